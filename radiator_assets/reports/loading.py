"""Reading the warehouse for reports: one consistent snapshot, tasks streamed in batches.

`snapshot(engine)` opens a REPEATABLE READ transaction in UTC: every query of a
build sees the same data even while a sync commits. `stream_tasks` reads tasks
with their stays aggregated into arrays, one row per task, ordered by key,
through a server-side cursor: the client holds one batch at a time, however big
the history is, and the database answers with one query, never one per task.

Everything after `as_of` is invisible: tasks created after it are left out and
stays starting after it are not read (the engine clears the ends after it).
Deleted tasks (`deleted_at` set) and tasks that left the query (`out_of_query_since`)
are never read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.metrics.stays import Stay

DEFAULT_BATCH_SIZE = 2000
_new = object.__new__
_set = object.__setattr__


def _stay(status: str, start: datetime, end: datetime | None) -> Stay:
    """A `Stay` built without `Stay.__post_init__`'s checks, which cost more than the
    rest of the read: the snapshot's session time zone is UTC, so psycopg2 hands
    over timezone-aware UTC datetimes, exactly what the checks would produce."""
    stay = _new(Stay)
    _set(stay, "status", status)
    _set(stay, "start", start)
    _set(stay, "end", end)
    return stay


#: enough for the sorts of a 1.2M-stay history to stay in memory (the default 4 MB spills)
REPORT_WORK_MEM = "128MB"


def tune_for_reports(conn: Connection) -> None:
    """Settings of a report transaction (`SET LOCAL`: they end with it).

    JIT is off: the planner's row estimates for the report queries (windows and
    joins over the whole history) are far too high, so PostgreSQL compiled them,
    which cost seconds, more than running them. `work_mem` lets their sorts and
    hashes stay in memory. No parallel workers: the plans they got gathered a
    million sorted rows through one merge, slower than one process sorting them on
    this two-core machine (and the build shares it with the sync)."""
    conn.execute(sa.text("SET LOCAL jit = off"))
    conn.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
    conn.execute(sa.text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A REPEATABLE READ transaction in UTC, rolled back at the end (it only reads,
    apart from temporary tables that die with it), tuned by `tune_for_reports`."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin() as tx:
            conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
            tune_for_reports(conn)
            try:
                yield conn
            finally:
                tx.rollback()


@dataclass(frozen=True, slots=True)
class TaskHistory:
    """One task and its status stays (raw, ordered by start), as of the build's `as_of`."""

    id: int
    key: str
    queue: str | None
    summary: str | None
    author: str | None
    epic_key: str | None
    created: datetime
    stays: tuple[Stay, ...]
    extra: tuple[Any, ...] = ()


def task_filter(queues: Sequence[str] | None) -> str:
    """SQL condition on `tracker_tasks` (no alias) selecting visible tasks of `queues`."""
    where = (
        "deleted_at IS NULL AND out_of_query_since IS NULL "
        "AND created_at IS NOT NULL AND created_at <= :as_of"
    )
    if queues is not None:
        where += " AND lower(queue) = ANY(:queues)"
    return where


def queue_params(queues: Sequence[str] | None) -> dict[str, Any]:
    return {} if queues is None else {"queues": [q.strip().lower() for q in queues]}


_STREAM = """
SELECT t.id, t.key, t.queue, t.summary, t.author, t.epic_key, t.created_at,
       h.statuses, h.starts, h.ends{extra_columns}
FROM (
    SELECT DISTINCT ON (key) id, key, queue, summary, author, epic_key, created_at
    FROM tracker_tasks
    WHERE {where}{extra_where}
    ORDER BY key, task_updated_at DESC NULLS LAST, id DESC
) t
LEFT JOIN LATERAL (
    SELECT array_agg(s.status ORDER BY s.start_date, s.id) AS statuses,
           array_agg(s.start_date ORDER BY s.start_date, s.id) AS starts,
           array_agg(s.end_date ORDER BY s.start_date, s.id) AS ends
    FROM tracker_task_history s
    WHERE s.task_id = t.id AND s.start_date <= :as_of
) h ON true{extra_joins}
ORDER BY t.key
"""


def stream_tasks(
    conn: Connection,
    *,
    as_of: datetime,
    queues: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    extra_columns: str = "",
    extra_joins: str = "",
    extra_where: str = "",
    params: dict[str, Any] | None = None,
) -> Iterator[list[TaskHistory]]:
    """Batches of visible tasks (of `queues`, or all) with their stays, ordered by key.

    A key held by two live rows (stale data) is read once: the most recently
    updated row wins. Tasks without any stay before `as_of` are skipped.
    `extra_columns` (", expr AS name, ..."), `extra_joins` (joins on alias `t`)
    and `extra_where` (" AND ...") extend the query; the extra values arrive in
    `TaskHistory.extra`."""
    sql = _STREAM.format(
        where=task_filter(queues),
        extra_where=extra_where,
        extra_columns=extra_columns,
        extra_joins=extra_joins,
    )
    bound = {"as_of": as_of, **queue_params(queues), **(params or {})}
    result = conn.execute(
        sa.text(sql), bound, execution_options={"stream_results": True, "yield_per": batch_size}
    )
    try:
        for partition in result.partitions(batch_size):
            batch: list[TaskHistory] = []
            for row in partition:
                statuses = row[7]
                if not statuses:
                    continue
                stays = tuple(map(_stay, statuses, row[8], row[9]))
                batch.append(
                    TaskHistory(
                        id=row[0],
                        key=row[1],
                        queue=row[2],
                        summary=row[3],
                        author=row[4],
                        epic_key=row[5],
                        created=row[6],
                        stays=stays,
                        extra=tuple(row[10:]),
                    )
                )
            yield batch
    finally:
        result.close()


def first_created(conn: Connection, *, as_of: datetime, queues: Sequence[str] | None) -> datetime:
    """The earliest creation of a visible task of `queues` (None when there is none)."""
    return conn.scalar(
        sa.text(f"SELECT min(created_at) FROM tracker_tasks WHERE {task_filter(queues)}"),
        {"as_of": as_of, **queue_params(queues)},
    )
