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
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.reports.writing import REPORTS_WRITE_LOCK

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


def lock_reports(conn: Connection) -> None:
    """Take the reports' write lock for the rest of the transaction (as `TableWriter`)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": REPORTS_WRITE_LOCK})
