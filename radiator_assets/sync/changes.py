"""Has anything changed in Tracker since the warehouse's high-water mark?

The sensor asks this every few minutes, so it must be cheap: one paged search
of the overlap window (`Updated: >= mark - overlap`), which holds only a few
issues, answers it in one request when nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.storage.models import TrackerTask
from radiator_assets.sync import quarantine
from radiator_assets.sync.changelog import oldest_pending_update
from radiator_assets.sync.marks import listing_completed, listing_mark
from radiator_assets.tracker.errors import InvalidTrackerDatetime
from radiator_assets.tracker.query import incremental_query, parse_tracker_datetime

TASKS = TrackerTask.__table__


class PagedSearch(Protocol):
    def search_page(
        self, query: str, *, page: int = 1, per_page: int = 50
    ) -> tuple[list[dict[str, Any]], int]: ...


@dataclass(frozen=True)
class Changes:
    """The issues that are news since the mark: how many, and their newest update."""

    count: int
    newest: datetime


def _updated_at(issue: dict[str, Any]) -> datetime | None:
    """The issue's `updatedAt`; None when it is missing or garbled (the sync quarantines
    such an issue, the sensor just does not count it)."""
    if not isinstance(issue, dict) or not issue.get("updatedAt"):
        return None
    try:
        return parse_tracker_datetime(issue["updatedAt"])
    except InvalidTrackerDatetime:
        return None


def listed_since(
    client: PagedSearch,
    base_query: str,
    high_water_mark: datetime | None,
    *,
    overlap: timedelta,
    per_page: int = 100,
    max_pages: int = 50,
) -> dict[str, datetime]:
    """Every issue the overlap window's search returns: id -> `updatedAt` (with no mark,
    every issue of the query: it matched none when last listed, so it holds few)."""
    query = incremental_query(base_query, high_water_mark, overlap)
    listed: dict[str, datetime] = {}
    for page in range(1, max_pages + 1):
        issues, total = client.search_page(query, page=page, per_page=per_page)
        for issue in issues:
            stamp = _updated_at(issue)
            if stamp is not None and isinstance(issue.get("id"), str | int):
                listed[str(issue["id"])] = stamp
        if len(issues) < per_page or page * per_page >= total:
            break
    return listed


def changes_among(
    conn: Connection, listed: dict[str, datetime], mark: datetime | None
) -> Changes | None:
    """The listed issues that are news: updated after the mark, or inside the overlap but
    not stored as listed (Tracker indexed them late: the overlap exists for them). With
    no mark (the last complete listing found no issue) every listed issue is news."""
    if mark is None:
        return Changes(count=len(listed), newest=max(listed.values())) if listed else None
    within = [issue_id for issue_id, stamp in listed.items() if stamp <= mark]
    stored = (
        dict(
            conn.execute(
                sa.select(TASKS.c.tracker_id, TASKS.c.task_updated_at).where(
                    TASKS.c.tracker_id.in_(within)
                )
            ).all()
        )
        if within
        else {}
    )
    stamps = [
        stamp for issue_id, stamp in listed.items() if stamp > mark or stored.get(issue_id) != stamp
    ]
    if not stamps:
        return None
    return Changes(count=len(stamps), newest=max(stamps))


@dataclass(frozen=True)
class SyncNeed:
    """What an incremental sync would find: the mark of the last complete listing (None
    before the first, or when it found no issue), whether any listing completed, the
    changes since it, the oldest snapshot whose changelog an earlier run left unfetched,
    whether a run died before rebuilding some history, and whether records wait in the
    quarantine for their retry."""

    mark: datetime | None
    listed: bool = True
    changes: Changes | None = None
    left_behind: datetime | None = None
    history_stale: bool = False
    quarantined: bool = False

    @property
    def nothing(self) -> bool:
        return (
            self.listed
            and self.changes is None
            and self.left_behind is None
            and not self.history_stale
            and not self.quarantined
        )


def sync_need(engine: Engine, client: PagedSearch, base_query: str, overlap: timedelta) -> SyncNeed:
    """One paged search (usually one request) and a few indexed reads of the warehouse."""
    with engine.connect() as conn:
        mark = listing_mark(conn, base_query)
        if mark is None and not listing_completed(conn, base_query):
            return SyncNeed(None, listed=False)
    listed = listed_since(client, base_query, mark, overlap=overlap)
    with engine.connect() as conn:
        return SyncNeed(
            mark,
            True,
            changes_among(conn, listed, mark),
            oldest_pending_update(conn),
            bool(conn.scalar(sa.select(sa.exists().where(TASKS.c.history_stale)))),
            any(quarantine.open_refs(conn, kind, limit=1) for kind in ("issue", "changelog")),
        )
