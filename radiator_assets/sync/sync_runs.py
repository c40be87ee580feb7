"""The `tracker_sync_runs` journal: one row per sync step, written even when it fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.storage.models import TrackerSyncRun
from radiator_assets.storage.unit_of_work import unit_of_work

RUNS = TrackerSyncRun.__table__


@dataclass
class SyncRunTally:
    """What a sync step wrote; the journal row is filled from it at the end."""

    tasks_written: int = 0
    entries_written: int = 0
    history_written: int = 0
    api_requests: int = 0
    high_water_mark: datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)


@contextmanager
def journal(engine: Engine, kind: str, dagster_run_id: str | None) -> Iterator[SyncRunTally]:
    """Record a sync step: `running` now, then `success` or `failed` with the error text."""
    with unit_of_work(engine) as conn:
        run_id = conn.scalar(
            sa.insert(RUNS)
            .values(kind=kind, status="running", dagster_run_id=dagster_run_id)
            .returning(RUNS.c.id)
        )
    tally = SyncRunTally()
    status, error = "success", None
    try:
        yield tally
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:4000]
        raise
    finally:
        with unit_of_work(engine) as conn:
            conn.execute(
                sa.update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(
                    finished_at=sa.func.now(),
                    status=status,
                    error=error,
                    tasks_written=tally.tasks_written,
                    entries_written=tally.entries_written,
                    history_written=tally.history_written,
                    api_requests=tally.api_requests,
                    high_water_mark=tally.high_water_mark,
                )
            )


def newest_success(engine: Engine, kind: str) -> datetime | None:
    """When the newest successful step of `kind` finished."""
    with engine.connect() as conn:
        return conn.scalar(
            sa.select(sa.func.max(RUNS.c.finished_at)).where(
                RUNS.c.kind == kind, RUNS.c.status == "success"
            )
        )
