"""Dagster software-defined assets and their checks."""
