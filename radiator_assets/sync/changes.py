"""Has anything changed in Tracker since the warehouse's high-water mark?

The sensor asks this every few minutes, so it must be cheap: one paged search
of the overlap window (`Updated: >= mark - overlap`), which holds only a few
issues, answers it in one request when nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from radiator_assets.tracker.errors import InvalidTrackerDatetime
from radiator_assets.tracker.query import incremental_query, parse_tracker_datetime


class PagedSearch(Protocol):
    def search_page(
        self, query: str, *, page: int = 1, per_page: int = 50
    ) -> tuple[list[dict[str, Any]], int]: ...


@dataclass(frozen=True)
class Changes:
    """Issues updated after the mark: how many, their newest update, the days they touch."""

    count: int
    newest: datetime
    days: tuple[date, ...]


def _updated_at(issue: dict[str, Any]) -> datetime | None:
    """The issue's `updatedAt`; None when it is missing or garbled (the sync quarantines
    such an issue, the sensor just does not count it)."""
    if not isinstance(issue, dict) or not issue.get("updatedAt"):
        return None
    try:
        return parse_tracker_datetime(issue["updatedAt"])
    except InvalidTrackerDatetime:
        return None


def changes_since(
    client: PagedSearch,
    base_query: str,
    high_water_mark: datetime,
    *,
    overlap: timedelta,
    per_page: int = 100,
    max_pages: int = 50,
) -> Changes | None:
    """The changes after `high_water_mark`, or None when there are none."""
    query = incremental_query(base_query, high_water_mark, overlap)
    stamps: list[datetime] = []
    for page in range(1, max_pages + 1):
        issues, total = client.search_page(query, page=page, per_page=per_page)
        stamps.extend(
            stamp
            for issue in issues
            if (stamp := _updated_at(issue)) is not None and stamp > high_water_mark
        )
        if len(issues) < per_page or page * per_page >= total:
            break
    if not stamps:
        return None
    return Changes(
        count=len(stamps),
        newest=max(stamps),
        days=tuple(sorted({s.date() for s in stamps})),
    )
