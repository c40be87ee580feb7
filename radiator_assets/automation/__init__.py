"""Sensors and schedules that keep the assets current."""
