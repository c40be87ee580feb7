"""Has anything changed in Tracker since the warehouse's high-water mark?

The sensor asks this every few minutes, so it must be cheap: one paged search
of the overlap window (`Updated: >= mark - overlap`), which holds only a few
issues, answers it in one request when nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.storage.models import TrackerTask
from radiator_assets.sync.changelog import oldest_pending_update
from radiator_assets.sync.marks import listing_mark
from radiator_assets.tracker.errors import InvalidTrackerDatetime
from radiator_assets.tracker.query import incremental_query, parse_tracker_datetime

TASKS = TrackerTask.__table__


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


@dataclass(frozen=True)
class SyncNeed:
    """What an incremental sync would find: the mark of the last complete listing (None
    before the first), the changes after it, the oldest snapshot whose changelog an
    earlier run left unfetched, and whether a run died before rebuilding some history."""

    mark: datetime | None
    changes: Changes | None = None
    left_behind: datetime | None = None
    history_stale: bool = False

    @property
    def nothing(self) -> bool:
        return (
            self.mark is not None
            and self.changes is None
            and self.left_behind is None
            and not self.history_stale
        )


def sync_need(engine: Engine, client: PagedSearch, base_query: str, overlap: timedelta) -> SyncNeed:
    """One paged search (usually one request) and two indexed reads of the warehouse."""
    with engine.connect() as conn:
        mark = listing_mark(conn, base_query)
    if mark is None:
        return SyncNeed(None)
    changes = changes_since(client, base_query, mark, overlap=overlap)
    with engine.connect() as conn:
        left_behind = oldest_pending_update(conn)
        stale = conn.scalar(sa.select(sa.exists().where(TASKS.c.history_stale)))
    return SyncNeed(mark, changes, left_behind, bool(stale))
