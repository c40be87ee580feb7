"""Incremental report builds: which tasks a build must recompute, and the bookkeeping.

The contract, for any report family (product, time in status, ...):

1. Open the build with `build_transaction(engine, family)`: one REPEATABLE READ
   transaction (UTC, `tune_for_reports`) that every read and write of the build
   uses. A session-level advisory lock of the family is taken *before* the
   transaction starts, so the snapshot of a second build of the family is taken
   after the first one committed: it starts from the state the first one left.
   Decision: one connection instead of the older reader + writer pair, because
   the change set, the fingerprints and the stored contributions must be read in
   the same snapshot the new rows are computed from, and temporary tables are then
   shared by the reads and the writes.
2. `plan_changes(conn, inputs, family=..., queues=..., force_full=..., grain=...)`
   fills the temporary table `rep_fp` (every visible task of `queues`: id, key,
   fingerprint) and decides full vs incremental (`ChangeSet.full`, `.reason`).
   When incremental it fills `rep_changed_keys(task_key)` (the keys to recompute:
   a report row belongs to a key, `stream_tasks` reads one row per key) and
   `rep_changed_ids(task_id)` (every task id, stored or visible, of those keys).
3. The family deletes its rows of `rep_changed_keys`, subtracts the stored `state`
   of `rep_changed_ids` (`stored_states`) from its aggregates, streams the changed
   keys (`CHANGED_KEYS_WHERE`) and fills `rep_task_state(task_id, state,
   recompute_at)` (`begin_task_state`, `write_task_states`): `state` is the task's
   contribution to the aggregates (JSON), `recompute_at` the earliest as_of at
   which the task's as_of-dependent values change (None: never).
4. `record_build(conn, inputs, change_set)` stores the fingerprints, states and
   recompute instants of the tasks it recomputed (all of them after a full build)
   and the build's as_of, configuration hash and grain, in the same transaction as
   the report rows: a killed build leaves the previous consistent state.

A task is recomputed when (`plan_changes`):

* its fingerprint differs from the stored one, or it has none (new task): the
  task row's `xmin`, read in the build's snapshot (no high-water mark of ids or
  timestamps, which a sync committing after the snapshot with lower ids would slip
  past). Decision: the task row's `xmin` alone, not an aggregate over its history
  rows (a GROUP BY over all 1.2M stays: 0.57 s of every build of every family at
  50k tasks), because of the invariant **every transaction that writes a task's
  history rows also writes its task row**: `sync/history.py` claims a task
  (`UPDATE tracker_tasks SET history_stale = false`) in the transaction that
  deletes and inserts its stays, the changelog sync marks it `history_stale =
  true` (a row write), and deleting a task cascades to its stays (it then is no
  longer visible). A writer of tracker_task_history that breaks this (tests,
  benchmarks: `storage/history_writer.upsert_stays`) must update the task row in
  the same transaction;
* a stored task is no longer visible (deleted, out of query, another queue, or
  its key changed): its rows must go;
* its stored `recompute_at` is at or before the new as_of (a floored day count to
  as_of ticks over, an open stay passes the short-stay length: the family says
  when, `reports/anchors.py` for the product reports);
* as_of moved past one of its instants: created, or a stay's start or end in
  [previous as_of, as_of] (clipping to as_of changes what the engine sees). In
  derived history (`sync/history.py`'s DERIVE_STAYS) a stay ends where the task's
  next stay starts and the last stay is open, so an end in the window is also a
  start in it; the ends are searched anyway (revision 0009's end_date index makes
  that one more index range), so a history written otherwise is not missed;
* the family names it (`extra_keys`, e.g. linked tasks whose returns changed).

A full build is chosen when forced, when the family has no previous build, when
the configuration hash or the grain differs, when as_of went back, or when more
than `FULL_FRACTION` of the visible tasks changed (then a full pass is cheaper
than deleting and rewriting their rows one key at a time).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.loading import queue_params, task_filter, tune_for_reports
from radiator_assets.reports.writing import copy_rows, lock_reports

#: above this share of the visible tasks changed, a full build is cheaper
FULL_FRACTION = 0.25
#: the WHERE clause (for `stream_tasks(extra_where=...)`) reading only the changed keys
CHANGED_KEYS_WHERE = " AND key IN (SELECT task_key FROM rep_changed_keys)"


@dataclass
class ChangeSet:
    """What `plan_changes` decided for one build."""

    family: str
    full: bool
    reason: str
    previous_as_of: datetime | None = None
    #: keys to recompute (incremental builds); every visible task on a full build
    keys: int = 0
    visible: int = 0


def build_lock_key(family: str) -> int:
    """The session advisory lock of `family`'s builds (a stable 31-bit number)."""
    return zlib.crc32(f"radiator report build {family}".encode()) & 0x7FFFFFFF


@contextmanager
def build_transaction(engine: Engine, family: str) -> Iterator[Connection]:
    """The one REPEATABLE READ transaction of a build of `family` (see the module
    docstring), committed when the block ends, rolled back when it raises. The
    family's lock is held from before the snapshot until after the commit."""
    with engine.connect() as conn:
        lock = {"k": build_lock_key(family)}
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), lock)
        conn.commit()
        try:
            rr = conn.execution_options(isolation_level="REPEATABLE READ")
            with rr.begin():
                rr.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
                tune_for_reports(rr)
                lock_reports(rr)
                yield rr
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), lock)
            conn.commit()


def config_hash(inputs: ReportInputs) -> str:
    """A stable hash of the metrics configuration as the reports use it."""
    dumped = inputs.config.model_dump(mode="json")
    text = json.dumps(dumped, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# The tasks some stay of which starts or ends in [previous as_of, as_of]: two index range
# scans (the (start_date, end_date) index and revision 0009's end_date index).
_MOVED = """
CREATE TEMP TABLE rep_moved ON COMMIT DROP AS
SELECT task_id FROM tracker_task_history WHERE start_date BETWEEN :previous AND :as_of
UNION
SELECT task_id FROM tracker_task_history WHERE end_date BETWEEN :previous AND :as_of
"""

_FINGERPRINTS = """
CREATE TEMP TABLE rep_fp ON COMMIT DROP AS
SELECT t.id AS task_id, t.key AS task_key, t.xmin::text AS fingerprint,
       t.created_at BETWEEN :previous AND :as_of
           OR t.id IN (SELECT task_id FROM rep_moved) AS moved
FROM tracker_tasks t
WHERE {where}
"""

# The tasks whose rows change: visible or stored, with their key now and stored. One
# pass over the family's stored rows (a FULL JOIN): the recompute instants are read in
# the same pass, not through their index, because the pass is needed anyway.
_CHANGED_ROWS = """
CREATE TEMP TABLE rep_changed_rows ON COMMIT DROP AS
SELECT COALESCE(f.task_id, b.task_id) AS task_id, f.task_key AS key_now, b.task_key AS key_stored
FROM rep_fp f
FULL JOIN (
    SELECT task_id, task_key, fingerprint, recompute_at FROM report_build_tasks
    WHERE family = :family
) b ON b.task_id = f.task_id
WHERE b.task_id IS NULL OR f.task_id IS NULL OR b.fingerprint <> f.fingerprint
   OR b.task_key <> f.task_key OR f.moved OR b.recompute_at <= :as_of
"""

_CHANGED_KEYS = """
CREATE TEMP TABLE rep_changed_keys ON COMMIT DROP AS
SELECT key_now AS task_key FROM rep_changed_rows WHERE key_now IS NOT NULL
UNION
SELECT key_stored FROM rep_changed_rows WHERE key_stored IS NOT NULL{extra}
"""

# Every task id, visible or stored, of the changed keys: a stored task under a changed
# key is either visible under the same key (the first part) or a changed row itself.
_CHANGED_IDS = """
CREATE TEMP TABLE rep_changed_ids ON COMMIT DROP AS
SELECT task_id FROM rep_fp WHERE task_key IN (SELECT task_key FROM rep_changed_keys)
UNION
SELECT task_id FROM rep_changed_rows
"""


def previous_build(conn: Connection, family: str) -> Any:
    """The stored row of `family`'s last build (None before the first)."""
    return conn.execute(
        sa.text("SELECT as_of, config_hash, grain FROM report_builds WHERE family = :family"),
        {"family": family},
    ).one_or_none()


def full_reason(previous: Any, inputs: ReportInputs, grain: str, force_full: bool) -> str | None:
    """Why this build must be full (None: it may be incremental)."""
    if force_full:
        return "forced"
    if previous is None:
        return "no previous build"
    if previous.config_hash != config_hash(inputs):
        return "configuration changed"
    if inputs.as_of < previous.as_of:
        return "as_of went back"
    if previous.grain != grain:
        return "grain changed"
    return None


def plan_changes(
    conn: Connection,
    inputs: ReportInputs,
    *,
    family: str,
    queues: Sequence[str] | None,
    force_full: bool,
    grain: str = "",
    extra_keys: Iterable[str] = (),
) -> ChangeSet:
    """Decide full vs incremental and fill the temporary tables of the change set (see
    the module docstring). `queues` None means every synced queue; `grain` is the
    family's coarse as_of-dependent shape; `extra_keys` are SQL SELECTs of further
    task keys to recompute (they may read `rep_fp`)."""
    previous = previous_build(conn, family)
    reason = full_reason(previous, inputs, grain, force_full)
    before = inputs.as_of if reason is not None else previous.as_of
    params = {"as_of": inputs.as_of, "previous": before, **queue_params(queues)}
    conn.execute(sa.text(_MOVED), params)
    conn.execute(sa.text(_FINGERPRINTS.format(where=task_filter(queues))), params)
    conn.execute(sa.text("ALTER TABLE rep_fp ADD PRIMARY KEY (task_id)"))
    conn.execute(sa.text("ANALYZE rep_fp"))
    visible = conn.scalar(sa.text("SELECT count(*) FROM rep_fp"))
    prev_as_of = previous.as_of if previous is not None else None
    if reason is not None:
        return ChangeSet(family, True, reason, prev_as_of, visible, visible)
    extra = "".join(f"\nUNION\n{sql}" for sql in extra_keys)
    family_params = {"family": family, "as_of": inputs.as_of}
    conn.execute(sa.text(_CHANGED_ROWS), family_params)
    conn.execute(sa.text(_CHANGED_KEYS.format(extra=extra)), family_params)
    conn.execute(sa.text("ALTER TABLE rep_changed_keys ADD PRIMARY KEY (task_key)"))
    keys = conn.scalar(sa.text("SELECT count(*) FROM rep_changed_keys"))
    if keys > FULL_FRACTION * max(visible, 1):
        return ChangeSet(
            family, True, f"{keys} of {visible} tasks changed", prev_as_of, keys, visible
        )
    conn.execute(sa.text(_CHANGED_IDS), family_params)
    conn.execute(sa.text("ALTER TABLE rep_changed_ids ADD PRIMARY KEY (task_id)"))
    conn.execute(sa.text("ANALYZE rep_changed_keys; ANALYZE rep_changed_ids"))
    return ChangeSet(family, False, "incremental", prev_as_of, keys, visible)


def stored_states(conn: Connection, family: str) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(task_id, stored state) of the changed tasks (`rep_changed_ids`) that have one."""
    rows = conn.execute(
        sa.text(
            "SELECT task_id, state FROM report_build_tasks "
            "WHERE family = :family AND state IS NOT NULL "
            "AND task_id IN (SELECT task_id FROM rep_changed_ids)"
        ),
        {"family": family},
    )
    yield from ((task_id, state) for task_id, state in rows)


def begin_task_state(conn: Connection) -> None:
    """The temporary table the family fills with each recomputed task's state."""
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE rep_task_state (task_id bigint PRIMARY KEY, state jsonb, "
            "recompute_at timestamptz) ON COMMIT DROP"
        )
    )


def write_task_states(
    conn: Connection, rows: Sequence[tuple[int, dict[str, Any] | None, datetime | None]]
) -> None:
    """COPY (task_id, state, recompute_at) rows into `rep_task_state`."""
    table = sa.table("rep_task_state")
    copy_rows(conn, table, ["task_id", "state", "recompute_at"], rows)


_RECORD = """
INSERT INTO report_build_tasks (family, task_id, task_key, fingerprint, state, recompute_at)
SELECT :family, f.task_id, f.task_key, f.fingerprint, s.state, s.recompute_at
FROM rep_fp f LEFT JOIN rep_task_state s ON s.task_id = f.task_id
{where}
"""


def record_build(conn: Connection, inputs: ReportInputs, change: ChangeSet, grain: str) -> None:
    """Store the recomputed tasks' fingerprints and states and the build itself (see the
    module docstring); call it in the build's transaction, after `rep_task_state` is full."""
    params = {"family": change.family}
    if change.full:
        conn.execute(sa.text("DELETE FROM report_build_tasks WHERE family = :family"), params)
        conn.execute(sa.text(_RECORD.format(where="")), params)
    else:
        conn.execute(
            sa.text(
                "DELETE FROM report_build_tasks WHERE family = :family "
                "AND task_id IN (SELECT task_id FROM rep_changed_ids)"
            ),
            params,
        )
        where = "WHERE f.task_id IN (SELECT task_id FROM rep_changed_ids)"
        conn.execute(sa.text(_RECORD.format(where=where)), params)
    conn.execute(
        sa.text(
            "INSERT INTO report_builds (family, as_of, config_hash, grain, built_at) "
            "VALUES (:family, :as_of, :hash, :grain, :now) ON CONFLICT (family) DO UPDATE SET "
            "as_of = excluded.as_of, config_hash = excluded.config_hash, "
            "grain = excluded.grain, built_at = excluded.built_at"
        ),
        {
            **params,
            "as_of": inputs.as_of,
            "hash": config_hash(inputs),
            "grain": grain,
            "now": datetime.now(UTC),
        },
    )
