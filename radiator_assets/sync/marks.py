"""The incremental high-water mark, moved only by a listing that was read to its end.

Tracker's unsorted scroll yields issues in no order, so the newest `updatedAt`
committed so far says nothing about what is still to come: a run killed after
its first batch would push such a mark past issues it never stored, and no
later sync would fetch them. The mark is therefore kept apart from the data,
per base query (a changed `TRACKER_QUERY` starts with a full listing), and
written only when a listing completed and covered everything since the
previous mark.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from radiator_assets.storage.models import TrackerSyncState

STATE = TrackerSyncState.__table__


def listing_mark(conn: Connection, query: str) -> datetime | None:
    """Where the next incremental listing of `query` starts (before the overlap); None
    until a listing of it completed, and while every complete listing found no issue."""
    return conn.scalar(sa.select(STATE.c.high_water_mark).where(STATE.c.query == query.strip()))


def listing_completed(conn: Connection, query: str) -> bool:
    """Whether a listing of `query` was ever read to its end (even one that found nothing)."""
    return bool(conn.scalar(sa.select(sa.exists().where(STATE.c.query == query.strip()))))


def record_complete_listing(
    conn: Connection, query: str, newest: datetime | None, listed: int
) -> datetime | None:
    """A listing of `query` completed: the mark becomes the newest `updatedAt` it saw, never
    earlier than before. Returns the mark now stored."""
    stmt = insert(STATE).values(query=query.strip(), high_water_mark=newest, issues_listed=listed)
    return conn.scalar(
        stmt.on_conflict_do_update(
            index_elements=[STATE.c.query],
            set_={
                "high_water_mark": sa.func.greatest(STATE.c.high_water_mark, newest),
                "listed_at": sa.func.now(),
                "issues_listed": listed,
            },
        ).returning(STATE.c.high_water_mark)
    )
