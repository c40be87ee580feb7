"""Which daily changelog partitions a sync must cover.

A run over the whole history (2017 to today) costs Dagster thousands of
partition events, so incremental runs cover only the days that can hold new
work: from the mark of the last complete listing minus the overlap, or from
the oldest issue whose changelog is still pending, whichever is earlier, up
to today.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from radiator_assets.sync.changelog import oldest_pending_update
from radiator_assets.sync.marks import listing_mark


def incremental_range_start(
    engine: Engine, query: str, overlap: timedelta, *, changes_from: datetime | None = None
) -> date | None:
    """First day an incremental run must cover; None before the first complete listing of
    `query` (whole history)."""
    with engine.connect() as conn:
        mark = listing_mark(conn, query)
        pending = oldest_pending_update(conn)
    if mark is None:
        return None
    candidates = [mark - overlap]
    if pending is not None:
        candidates.append(pending)
    if changes_from is not None:
        candidates.append(changes_from)
    return min(candidates).date()
