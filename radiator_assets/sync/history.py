"""Deriving status stays from stored changelog entries, in SQL.

Exactly the tasks marked `history_stale` (new entries, or a new status on the
snapshot) are rebuilt, a batch of task ids per transaction: delete their stays
and insert the recomputed ones. The rebuild reads only the stored changelog,
which is append-only, so a failed fetch can never take history away.

Stay rules (../shared/spec/metrics.md): the first stay starts at the task's
creation in the status the first status change came *from*; every status
change opens a stay and closes the previous one; a task without status changes
has one open stay in its current status. All in UTC (timestamptz).

Invariant the incremental report builds rely on (`reports/changes.py`: a task's
fingerprint is its task row's xmin): every transaction that writes a task's stays
also writes its task row. Here the claim (`_CLAIM`, UPDATE ... SET history_stale =
false) rewrites the row in the transaction that deletes and inserts the stays; a
task's stays are deleted otherwise only with its row (ON DELETE CASCADE). A new
writer of tracker_task_history must keep this (update the task row in the same
transaction), or incremental builds will miss its changes. Likewise the derived
stays are contiguous (a stay ends where the next starts, the last is open), which
lets a build find the stays as_of passed from their starts alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.sync.locking import SyncWriter

HISTORY_COLUMNS = "task_id, tracker_id, status_key, status, status_display, start_date, end_date"

# The stays of the tasks `:ids`, derived from the stored changelog (HISTORY_COLUMNS, in the
# unique key's order, so the unique index is filled in ascending order).
DERIVE_STAYS = """
    WITH t AS (
        SELECT id, tracker_id, created_at, status_key, status
        FROM tracker_tasks WHERE id = ANY(:ids)
    ),
    ch AS (
        SELECT c.task_id, c.updated_at, c.id AS entry_id,
               c.status_from_key, COALESCE(c.status_from, c.status_from_key) AS status_from,
               c.status_to_key, COALESCE(c.status_to, c.status_to_key) AS status_to,
               row_number() OVER (PARTITION BY c.task_id ORDER BY c.updated_at, c.id) AS rn
        FROM tracker_changelog c
        WHERE c.task_id = ANY(:ids) AND COALESCE(c.status_to, c.status_to_key) IS NOT NULL
    ),
    starts AS (
        SELECT t.id AS task_id, t.tracker_id,
               CASE WHEN f.task_id IS NULL THEN t.status_key ELSE f.status_from_key END
                   AS status_key,
               CASE WHEN f.task_id IS NULL THEN t.status ELSE f.status_from END AS status,
               t.created_at AS start_date, 0::bigint AS rn
        FROM t LEFT JOIN ch f ON f.task_id = t.id AND f.rn = 1
        UNION ALL
        SELECT ch.task_id, t.tracker_id, ch.status_to_key, ch.status_to, ch.updated_at, ch.rn
        FROM ch JOIN t ON t.id = ch.task_id
    ),
    ordered AS (
        SELECT s.*, lead(start_date) OVER (PARTITION BY task_id ORDER BY start_date, rn)
                   AS end_date
        FROM starts s WHERE status IS NOT NULL AND start_date IS NOT NULL
    )
    SELECT DISTINCT ON (task_id, status, start_date)
           task_id, tracker_id, status_key, status, status AS status_display, start_date, end_date
    FROM ordered
    ORDER BY task_id, status, start_date, rn DESC
"""

_REBUILD = sa.text(f"INSERT INTO tracker_task_history ({HISTORY_COLUMNS}) {DERIVE_STAYS}")

# Takes the next batch of stale tasks and clears their mark in one statement: each task
# row (some 5 KB: full_data) is rewritten once, where a SELECT ... FOR UPDATE followed by
# an UPDATE wrote it twice (the lock, then the new version).
_CLAIM = sa.text(
    """
    UPDATE tracker_tasks t SET history_stale = false
    FROM (
        SELECT id FROM tracker_tasks WHERE history_stale AND id > :last ORDER BY id LIMIT :n
    ) s
    WHERE t.id = s.id
    RETURNING t.id
    """
)


@dataclass
class HistoryBuildResult:
    """What a build did; `seconds`: "rebuild" is the whole, the rest its parts (taking the
    stale tasks, deleting their stays, deriving and inserting the new ones, committing)."""

    tasks_rebuilt: int = 0
    stays_deleted: int = 0
    stays_written: int = 0
    batches: int = 0
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("rebuild", "claim", "delete", "insert", "commit"), 0.0
        )
    )


def claim_stale_tasks(conn: Connection, after_id: int, limit: int) -> list[int]:
    """The next `limit` stale task ids above `after_id`, ascending, their mark cleared (and
    their rows locked) in the caller's transaction: its rebuild commits with it."""
    return sorted(conn.scalars(_CLAIM, {"last": after_id, "n": limit}))


def rebuild_tasks(
    conn: Connection, task_ids: list[int], seconds: dict[str, float]
) -> tuple[int, int]:
    """Replace the stays of `task_ids` in the caller's transaction; (deleted, written).
    Adds the time of the delete and of the insert to `seconds`.

    JIT is off for the transaction: the planner cannot see through the CTEs, estimates
    some 30 times the rows there are, and so JIT-compiled the statement for every
    batch: about 1 s of a 1.7 s statement on 2,000 tasks (EXPLAIN ANALYZE), for a
    query that runs some 0.2 s. The insert's cost is mostly writing the rows: the heap,
    the primary key, the unique key, the foreign-key check per stay and their WAL
    (benchmarks/bench_history.py prints the shares)."""
    conn.execute(sa.text("SET LOCAL jit = off"))
    mark = time.perf_counter()
    deleted = conn.execute(
        sa.text("DELETE FROM tracker_task_history WHERE task_id = ANY(:ids)"), {"ids": task_ids}
    ).rowcount
    seconds["delete"] += time.perf_counter() - mark
    mark = time.perf_counter()
    written = conn.execute(_REBUILD, {"ids": task_ids}).rowcount
    seconds["insert"] += time.perf_counter() - mark
    return deleted, written


def build_history(
    writer: SyncWriter,
    *,
    batch_tasks: int = 2000,
    progress: Callable[[HistoryBuildResult], None] | None = None,
) -> HistoryBuildResult:
    """Rebuild the stays of every stale task, one transaction per batch of task ids."""
    result = HistoryBuildResult()
    seconds = result.seconds
    last_id = 0
    while True:
        started = time.perf_counter()
        with writer.transaction() as conn:
            ids = claim_stale_tasks(conn, last_id, batch_tasks)
            seconds["claim"] += time.perf_counter() - started
            if ids:
                deleted, written = rebuild_tasks(conn, ids, seconds)
            committing = time.perf_counter()
        seconds["commit"] += time.perf_counter() - committing
        seconds["rebuild"] += time.perf_counter() - started
        if not ids:
            break
        last_id = ids[-1]
        result.tasks_rebuilt += len(ids)
        result.stays_deleted += deleted
        result.stays_written += written
        result.batches += 1
        if progress is not None:
            progress(result)
    return result
