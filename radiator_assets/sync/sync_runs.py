"""The `tracker_sync_runs` journal: one row per sync step, truthful even when the step dies.

A step takes the sync lock first and only then writes its `running` row, so
when a step holds the lock every other `running` row belongs to a process
that died without finishing (killed, out of memory, machine lost): those are
marked failed ("abandoned") right there. The row's counters are saved as the
step commits its batches, so a step that fails half-way still tells what it
stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.storage.models import TrackerSyncRun
from radiator_assets.sync.locking import SyncWriter, lock_if_free, sync_lock

log = logging.getLogger(__name__)

RUNS = TrackerSyncRun.__table__
ABANDONED = "abandoned: the process running this step died before it finished"
R = TypeVar("R")


@dataclass
class SyncRunTally:
    """What a sync step wrote; the journal row is filled from it."""

    tasks_written: int = 0
    entries_written: int = 0
    history_written: int = 0
    api_requests: int = 0
    high_water_mark: datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        return {
            "tasks_written": self.tasks_written,
            "entries_written": self.entries_written,
            "history_written": self.history_written,
            "api_requests": self.api_requests,
            "high_water_mark": self.high_water_mark,
        }


@dataclass
class SyncStep:
    """A running sync step: the locked writer, its journal row and its tally."""

    writer: SyncWriter
    run_row_id: int
    tally: SyncRunTally = field(default_factory=SyncRunTally)

    def save(self) -> None:
        """Store the tally in the journal row now (through the locked writer)."""
        with self.writer.transaction() as conn:
            conn.execute(
                sa.update(RUNS).where(RUNS.c.id == self.run_row_id).values(**self.tally.values())
            )

    def progress(self, update: Callable[[SyncRunTally, R], None]) -> Callable[[R], None]:
        """A progress callback for the write path: update the tally from its result, save."""

        def callback(result: R) -> None:
            update(self.tally, result)
            self.save()

        return callback


def mark_abandoned_runs(conn: sa.Connection) -> int:
    """Fail every `running` row: called by the lock holder, so none of them is alive."""
    return conn.execute(
        sa.update(RUNS)
        .where(RUNS.c.status == "running")
        .values(status="failed", finished_at=sa.func.now(), error=ABANDONED)
    ).rowcount


def settle_abandoned_runs(engine: Engine) -> int | None:
    """When no sync holds the lock, fail the `running` rows (their process died) and
    return how many; None while a sync is writing."""
    with lock_if_free(engine) as writer:
        if writer is None:
            return None
        with writer.transaction() as conn:
            return mark_abandoned_runs(conn)


@contextmanager
def sync_step(
    engine: Engine, kind: str, dagster_run_id: str | None, *, lock_wait_seconds: float = 3600.0
) -> Iterator[SyncStep]:
    """Hold the sync lock and journal the step: `running` now, `success` or `failed` at the end."""
    with sync_lock(engine, wait_seconds=lock_wait_seconds) as writer:
        with writer.transaction() as conn:
            abandoned = mark_abandoned_runs(conn)
            row_id = conn.scalar(
                sa.insert(RUNS)
                .values(kind=kind, status="running", dagster_run_id=dagster_run_id)
                .returning(RUNS.c.id)
            )
        if abandoned:
            log.warning("%d sync step(s) left running by a dead process marked failed", abandoned)
        step = SyncStep(writer, int(row_id))
        status, error = "success", None
        try:
            yield step
        except BaseException as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"[:4000]
            raise
        finally:
            # On a connection of its own: the writer's may be the thing that failed.
            with engine.begin() as conn:
                conn.execute(
                    sa.update(RUNS)
                    .where(RUNS.c.id == step.run_row_id)
                    .values(
                        finished_at=sa.func.now(), status=status, error=error, **step.tally.values()
                    )
                )


def steps_of_run(engine: Engine, dagster_run_id: str) -> list[tuple[Any, ...]]:
    """(kind, status, error, tasks, entries, stays written, API requests) of each step a
    Dagster run journaled, oldest first."""
    query = (
        sa.select(
            RUNS.c.kind,
            RUNS.c.status,
            RUNS.c.error,
            RUNS.c.tasks_written,
            RUNS.c.entries_written,
            RUNS.c.history_written,
            RUNS.c.api_requests,
        )
        .where(RUNS.c.dagster_run_id == dagster_run_id)
        .order_by(RUNS.c.id)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def failed_steps(engine: Engine) -> int:
    """How many sync steps have failed so far (the sensor keys its retries on it)."""
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).where(RUNS.c.status == "failed")) or 0)
