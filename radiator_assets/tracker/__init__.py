"""Yandex Tracker: the HTTP client and the local emulator that speaks the same API."""
