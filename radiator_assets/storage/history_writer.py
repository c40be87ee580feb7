"""Bulk writers for status stays.

The predecessor inserted one ORM object per history row and cleaned up
duplicates afterwards by loading the whole table into Python. Here rows go in
as multi-row `INSERT ... ON CONFLICT` batches (SQLAlchemy's insertmanyvalues),
and the unique constraint on `(task_id, status, start_date)` makes a duplicate
impossible rather than something to clean.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypedDict

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from radiator_assets.storage.models import TrackerTaskHistory

HISTORY = TrackerTaskHistory.__table__


class StayRow(TypedDict):
    task_id: int
    tracker_id: str
    status_key: str | None
    status: str
    status_display: str | None
    start_date: datetime
    end_date: datetime | None


def upsert_stays(conn: Connection, rows: Sequence[StayRow]) -> int:
    """Insert stays; an existing `(task_id, status, start_date)` gets the new end date.

    Returns the number of rows sent. Idempotent: writing the same stays twice
    leaves one row per stay. Used by tests and benchmarks only: it does not write the
    task rows, which the sync's history build does (`sync/history.py`'s invariant), so
    a caller whose stays feed report builds must update the task rows itself.
    """
    if not rows:
        return 0
    stmt = insert(HISTORY)
    stmt = stmt.on_conflict_do_update(
        constraint="uq_tracker_task_history_task_id_status_start_date",
        set_={
            "end_date": stmt.excluded.end_date,
            "status_key": stmt.excluded.status_key,
            "status_display": stmt.excluded.status_display,
            "tracker_id": stmt.excluded.tracker_id,
        },
    )
    # RETURNING keeps SQLAlchemy's multi-row batching (insertmanyvalues): without it,
    # SQLAlchemy 2.1 sends ON CONFLICT statements one row at a time.
    return len(conn.execute(stmt.returning(HISTORY.c.id), list(rows)).all())
