"""Yandex Tracker: the HTTP client and the local emulator that speaks the same API."""

from radiator_assets.tracker.client import ChangelogResult, TrackerClient
from radiator_assets.tracker.counters import RequestCounters
from radiator_assets.tracker.errors import (
    InvalidTrackerDatetime,
    IssueGone,
    MalformedResponse,
    NotFound,
    TrackerConfigError,
    TrackerError,
    TrackerHTTPError,
    TrackerUnavailable,
)
from radiator_assets.tracker.query import (
    format_query_datetime,
    format_tracker_datetime,
    incremental_query,
    parse_tracker_datetime,
)

__all__ = [
    "ChangelogResult",
    "InvalidTrackerDatetime",
    "IssueGone",
    "MalformedResponse",
    "NotFound",
    "RequestCounters",
    "TrackerClient",
    "TrackerConfigError",
    "TrackerError",
    "TrackerHTTPError",
    "TrackerUnavailable",
    "format_query_datetime",
    "format_tracker_datetime",
    "incremental_query",
    "parse_tracker_datetime",
]
