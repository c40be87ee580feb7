"""Refreshing a report for some tasks only: what the `refresh_*` functions share.

The contract with the change detector (`reports.changes`): the caller's
transaction holds a temporary table `rep_changed_tasks(task_id bigint primary
key)` (or another name it passes) with every task whose report rows may differ
from the stored ones. A refresh deletes the stored rows of those tasks and
inserts their recomputed rows, in the caller's transaction, under the reports'
write lock (`writing.REPORTS_WRITE_LOCK`), so a full build and a refresh take
turns.

Decision: the report tables are keyed by task key, not task id, so a refresh
deletes by key. A changed task's keys are its current key and every earlier key
(`aliases`, which Tracker keeps when an issue moves queue): rows stored under a
key the task no longer has go too. Tasks are soft-deleted in the warehouse
(`deleted_at`), so a disappeared task still names its keys. No `task_id`
column (and no migration) is needed; a task row removed from `tracker_tasks`
altogether would leave its report rows behind until the next full build.

The temporary tables made here are dropped first if the transaction already
has them (several refreshes may share one transaction) and at commit.

`build_family` connects a report's full build and its refresh to the change
detector (`reports.changes`): one transaction per build, `plan_changes`, then
the full build or the refresh of `rep_changed_ids`, the tasks' recompute
instants (computed in SQL by the report's own rule), and `record_build`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.reports.changes import (
    ChangeSet,
    begin_task_state,
    build_transaction,
    plan_changes,
    record_build,
)
from radiator_assets.reports.common import ReportInputs, ReportResult

CHANGED_TASKS = "rep_changed_tasks"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def checked_name(name: str) -> str:
    """`name` if it is a plain SQL identifier (it is put into statements as is)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain table name: {name!r}")
    return name


def fresh_temp_table(conn: Connection, name: str) -> None:
    """Drop the temporary table `name` if this session has it (a table made earlier in
    the same transaction by another refresh)."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS pg_temp.{checked_name(name)}"))


def stage_changed_keys(conn: Connection, changed_table: str, name: str) -> None:
    """Temporary table `name(key PRIMARY KEY)`: the current key and the earlier keys
    (`aliases`) of every task in `changed_table`, whatever its state (deleted, out
    of the query, created after as_of)."""
    fresh_temp_table(conn, name)
    changed = checked_name(changed_table)
    conn.execute(
        sa.text(
            f"CREATE TEMP TABLE {name} ON COMMIT DROP AS "
            f"SELECT t.key FROM tracker_tasks t JOIN {changed} c ON c.task_id = t.id "
            "UNION "
            "SELECT a.alias FROM tracker_tasks t "
            f"JOIN {changed} c ON c.task_id = t.id "
            "CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(t.aliases) = "
            "'array' THEN t.aliases ELSE '[]'::jsonb END) AS a(alias)"
        )
    )
    conn.execute(sa.text(f"ALTER TABLE {name} ADD PRIMARY KEY (key)"))
    conn.execute(sa.text(f"ANALYZE {name}"))


def key_restriction(keys: str | None, column: str = "key") -> str:
    """SQL to append to a WHERE: `column` is in the temporary table `keys` (made by
    `stage_changed_keys`); None: no restriction (a full build).

    Decision: `= ANY(ARRAY(...))`, not `IN (SELECT ...)`: the array is an index
    condition, so the few keys are looked up in the key's index even when the
    table's statistics are stale (right after a full build rewrote it, the planner
    chose a hash join over the whole report table: 0.5 s per statement)."""
    if keys is None:
        return ""
    return f" AND {column} = ANY(ARRAY(SELECT key FROM {checked_name(keys)}))"


# --------------------------------------------------------------------------- incremental builds

#: a report's full build, in the build's transaction (its table replaced)
FullBuild = Callable[[Connection, ReportInputs], ReportResult]
#: a report's refresh of the tasks of a changed-tasks table, in the build's transaction
Refresh = Callable[[Connection, ReportInputs, str], ReportResult]
#: the table of changed task ids `changes.plan_changes` fills
CHANGED_IDS = "rep_changed_ids"


@dataclass(frozen=True)
class Family:
    """One report's incremental build (`changes.py`'s contract): its family name, the
    queues its rows read (None: every queue), its grain, how it builds in full and
    refreshes, and an INSERT filling `rep_task_state(task_id, recompute_at)` for the
    tasks of `{tasks}` (a SELECT of task ids) in SQL (None: nothing of the report
    moves with as_of alone beyond the clipping `plan_changes` covers)."""

    name: str
    table: str
    queues: Sequence[str] | None
    grain: str
    build_full: FullBuild
    refresh: Refresh
    recompute_sql: str | None = None
    #: the report's table after the build: rows and preview (an incremental build's
    #: refresh only knows its own rows)
    stored: Callable[[Connection, ReportResult], None] | None = None


def build_family(
    engine: Engine, inputs: ReportInputs, family: Family, *, full: bool = False
) -> ReportResult:
    """Build `family`'s report in one transaction (`changes.build_transaction`): plan,
    the full build or the refresh of `rep_changed_ids`, the recompute instants,
    `record_build`. Decision: a build with no changed key runs no refresh (it would only
    stage the attributes of every task to recompute nothing) but still records its as_of.
    The result's `extra` says the build kind, its reason and the tasks recomputed."""
    started = time.perf_counter()
    with build_transaction(engine, family.name) as conn:
        change = plan_changes(
            conn,
            inputs,
            family=family.name,
            queues=family.queues,
            force_full=full,
            grain=family.grain,
        )
        begin_task_state(conn)
        result = _build_or_refresh(conn, inputs, family, change)
        if family.recompute_sql is not None:
            tasks = "SELECT task_id FROM rep_fp"
            if not change.full:
                tasks = f"SELECT task_id FROM {CHANGED_IDS}"
            conn.execute(sa.text(family.recompute_sql.format(tasks=tasks)), {"as_of": inputs.as_of})
        record_build(conn, inputs, change, family.grain)
        if not change.full and family.stored is not None:
            family.stored(conn, result)
    result.extra.update(
        {
            "build": "full" if change.full else "incremental",
            "build_reason": change.reason,
            "tasks_recomputed": change.keys,
        }
    )
    result.seconds["build"] = time.perf_counter() - started
    return result


def _build_or_refresh(
    conn: Connection, inputs: ReportInputs, family: Family, change: ChangeSet
) -> ReportResult:
    if change.full:
        return family.build_full(conn, inputs)
    if change.keys == 0:
        return ReportResult(family.table)
    return family.refresh(conn, inputs, CHANGED_IDS)
