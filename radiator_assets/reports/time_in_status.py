"""report_time_in_status: for every task of every synced queue, days per status.

Raw history (no short-stay filter) clipped to as_of. `days` sums the closed
stays of a status by the engine's `time_in_status` (each run of the status
counts up to the next different status's start, floored); the open current stay
is not in `days` but in `current_days` (to as_of) on the current status's row,
so `days + current_days` is the spec's time in status with the open stay
counted. `entries` is how many times the task entered the status. One row per
(task, status); a task's current status always has a row.

Decision: the report is computed by one window-function query (`_ROWS`), not by
streaming every task through Python: it is the same arithmetic as `task_rows`
(kept as the readable definition, and a test compares both on a random emulated
organisation), in a fraction of the time. How it reads the engine's rules:

* stays are ordered by (start, id), as `stream_tasks` hands them to the engine;
* "closed" stays are all but an open last one (no end, or an end after as_of);
* a run starts at a stay whose status differs from the previous stay's
  (`lag`); its start is the latest run start so far (a running `max`), and it
  ends at the next stay's start, or at the stay's own end clipped to as_of when
  it is the last closed stay (the last one, or the one before an open last);
  each run is floored to whole days on its last stay, then summed per status;
* entries count run starts over every stay, the open one included.

Two window passes over the history (the second reuses the first's order) and
one aggregation per (task, status), which also marks the current status's row;
the other rows of the task take their current status from it (a hash join).

One statement writes the report: the query's rows joined with a temporary
table of status -> block (a Python look-up of the configuration for the few
distinct statuses of the history, made first), inserted in (task_key, status)
order, the order of the table's primary key index. Decision: no staging table
in between (the rows were written to a temporary table, read back and copied:
about a third of the build's time on the benchmark).

`refresh_time_in_status` recomputes the rows of the tasks of a changed-tasks
table (see `reports.refreshing`) with the same statement, restricted to their
keys (`_ROWS`' `{restrict}`): a row depends on its task alone, so the rows of
the other tasks stay. A key is recomputed as a whole (every live row holding
it takes part in choosing the one reported, as in the full build).
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.metrics.engine import testing_returns, time_in_status
from radiator_assets.metrics.stays import floor_days
from radiator_assets.reports.common import ReportInputs, ReportResult
from radiator_assets.reports.loading import TaskHistory, task_filter, tune_for_reports
from radiator_assets.reports.refreshing import (
    CHANGED_TASKS,
    Family,
    build_family,
    fresh_temp_table,
    key_restriction,
    stage_changed_keys,
)
from radiator_assets.reports.writing import copy_rows, lock_reports
from radiator_assets.storage.report_models import ReportTimeInStatus

TABLE = ReportTimeInStatus.__table__
COLUMNS = [c.name for c in TABLE.columns]
PREVIEW_ROWS = 10


def task_rows(task: TaskHistory, inputs: ReportInputs) -> list[tuple]:
    """The report rows of one task, in COLUMNS order: the definition `_ROWS` computes
    for every task at once (a test holds them equal)."""
    as_of, config = inputs.as_of, inputs.config
    stays = task.stays  # starts <= as_of already; the engine clears ends after it
    current = stays[-1]
    current_open = current.end is None or current.end > as_of
    closed = stays[:-1] if current_open else stays
    days = time_in_status(closed, as_of) if closed else {}
    entries = {status: n + 1 for status, n in testing_returns(stays, as_of).items()}
    current_days = floor_days(current.start, as_of) if current_open else 0
    statuses = list(days)
    if current.status not in days:
        statuses.append(current.status)
    return [
        (
            task.key,
            status,
            task.queue,
            config.block(status),
            days.get(status, 0),
            current_days if status == current.status else 0,
            entries.get(status, 0),
            status == current.status,
            current.status,
            current.start,
        )
        for status in statuses
    ]


_DAYS = "GREATEST(0, floor(extract(epoch FROM {end} - {start}) / 86400))::int"

#: the report's rows without their status block; `{restrict}` narrows the keys
_ROWS = f"""
WITH live AS (
    SELECT DISTINCT ON (key) id, key, queue
    FROM tracker_tasks
    WHERE {task_filter(None)}{{restrict}}
    ORDER BY key, task_updated_at DESC NULLS LAST, id DESC
),
marked AS (
    SELECT h.task_id, h.id, h.status, h.start_date,
           LEAST(COALESCE(h.end_date, :as_of), :as_of) AS end_at,
           h.status IS DISTINCT FROM lag(h.status) OVER w AS entry,
           lead(h.id) OVER w IS NULL AS is_last,
           lead(h.id) OVER w IS NULL AND (h.end_date IS NULL OR h.end_date > :as_of) AS open_last
    FROM tracker_task_history h
    JOIN live l ON l.id = h.task_id
    WHERE h.start_date <= :as_of
    WINDOW w AS (PARTITION BY h.task_id ORDER BY h.start_date, h.id)
),
runs AS (
    SELECT task_id, status, entry, is_last, open_last, start_date,
           max(start_date) FILTER (WHERE entry) OVER w AS run_start,
           CASE WHEN lead(open_last) OVER w THEN end_at
                ELSE COALESCE(lead(start_date) OVER w, end_at) END AS run_end,
           lead(entry) OVER w IS NOT FALSE OR lead(open_last) OVER w AS ends_run
    FROM marked
    WINDOW w AS (PARTITION BY task_id ORDER BY start_date, id)
),
per_status AS (
    SELECT task_id, status,
           (count(*) FILTER (WHERE entry))::int AS entries,
           COALESCE(sum({_DAYS.format(end="run_end", start="run_start")})
                    FILTER (WHERE ends_run AND NOT open_last), 0)::int AS days,
           bool_or(is_last) AS is_current,
           bool_or(open_last) AS current_open,
           max(start_date) FILTER (WHERE is_last) AS current_start
    FROM runs
    GROUP BY task_id, status
)
SELECT l.key AS task_key, p.status, l.queue, p.days,
       CASE WHEN p.is_current AND p.current_open
            THEN {_DAYS.format(end=":as_of", start="p.current_start")} ELSE 0 END AS current_days,
       p.entries, p.is_current, c.status AS current_status, c.current_start AS last_change
FROM per_status p
JOIN per_status c ON c.task_id = p.task_id AND c.is_current
JOIN live l ON l.id = p.task_id
"""

_INSERT = f"""
INSERT INTO report_time_in_status ({", ".join(COLUMNS)})
SELECT r.task_key, r.status, r.queue, b.block, r.days, r.current_days, r.entries,
       r.is_current, r.current_status, r.last_change
FROM ({{rows}}) r
JOIN rep_status_block b ON b.status = r.status
ORDER BY r.task_key, r.status
"""

REFRESH_KEYS = "rep_tis_keys"


_PREVIEW = (
    "SELECT task_key, status, days, current_days FROM report_time_in_status "
    "WHERE days + current_days > 0{restrict} "
    "ORDER BY days + current_days DESC, task_key, status LIMIT :n"
)
_TASKS = "SELECT count(*) FROM report_time_in_status WHERE is_current{restrict}"


def stage_status_blocks(conn: Connection, inputs: ReportInputs, keys: str | None) -> None:
    """Temporary table rep_status_block: the block of every status in the history of
    the tasks holding the `keys` (None: every task)."""
    statuses = conn.scalars(
        sa.text(
            "SELECT DISTINCT status FROM tracker_task_history "
            f"WHERE start_date <= :as_of{_history_restriction(keys)}"
        ),
        {"as_of": inputs.as_of},
    ).all()
    fresh_temp_table(conn, "rep_status_block")
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE rep_status_block (status text PRIMARY KEY, block text NOT NULL) "
            "ON COMMIT DROP"
        )
    )
    rows = [(s, inputs.config.block(s)) for s in statuses]
    copy_rows(conn, sa.table("rep_status_block"), ["status", "block"], rows)  # type: ignore[arg-type]


def _history_restriction(keys: str | None) -> str:
    if keys is None:
        return ""
    return f" AND task_id IN (SELECT id FROM tracker_tasks WHERE true{key_restriction(keys)})"


def write_rows(conn: Connection, inputs: ReportInputs, keys: str | None) -> ReportResult:
    """Insert the rows of the tasks holding the `keys` (None: all; their old rows
    already deleted) in the caller's transaction; the preview and task count are theirs."""
    tune_for_reports(conn)
    stage_status_blocks(conn, inputs, keys)
    restrict = key_restriction(keys)
    rows = conn.execute(
        sa.text(_INSERT.format(rows=_ROWS.format(restrict=restrict))), {"as_of": inputs.as_of}
    ).rowcount
    mine = key_restriction(keys, "task_key")
    preview = conn.execute(sa.text(_PREVIEW.format(restrict=mine)), {"n": PREVIEW_ROWS})
    result = ReportResult(TABLE.name, rows=rows, preview=[dict(r) for r in preview.mappings()])
    result.extra = {"tasks": conn.scalar(sa.text(_TASKS.format(restrict=mine)))}
    return result


def rebuild(conn: Connection, inputs: ReportInputs) -> ReportResult:
    """Replace every row of report_time_in_status in the caller's transaction."""
    lock_reports(conn)
    conn.execute(TABLE.delete())
    return write_rows(conn, inputs, None)


def stored_summary(conn: Connection, result: ReportResult) -> None:
    """The table's row count, task count and preview, after an incremental build."""
    result.rows = conn.scalar(sa.text("SELECT count(*) FROM report_time_in_status"))
    preview = conn.execute(sa.text(_PREVIEW.format(restrict="")), {"n": PREVIEW_ROWS})
    result.preview = [dict(r) for r in preview.mappings()]
    result.extra["tasks"] = conn.scalar(sa.text(_TASKS.format(restrict="")))


#: `current_days` counts whole days from the start of the task's open last stay (not
#: of its run: `per_status.current_start` is the last stay's start): it ticks over at
#: start + (current_days + 1) days. A task whose last stay (at or before as_of, in
#: `_ROWS`' (start, id) order) is closed has no as_of-dependent value (its last stay
#: ending after as_of: the window rule of `plan_changes` sees as_of pass the end).
#: Computed for every task of `{tasks}`, even a duplicate key's row `_ROWS` does not
#: report: the key is recomputed once either way.
RECOMPUTE_AT = f"""
INSERT INTO rep_task_state (task_id, recompute_at)
SELECT s.task_id,
       s.start_date + ({_DAYS.format(end=":as_of", start="s.start_date")} + 1) * interval '1 day'
FROM ({{tasks}}) c
CROSS JOIN LATERAL (
    SELECT h.task_id, h.start_date, h.end_date FROM tracker_task_history h
    WHERE h.task_id = c.task_id AND h.start_date <= :as_of
    ORDER BY h.start_date DESC, h.id DESC LIMIT 1
) s
WHERE s.end_date IS NULL OR s.end_date > :as_of
"""

FAMILY = Family(
    name="time_in_status",
    table=TABLE.name,
    queues=None,
    grain="",
    build_full=rebuild,
    refresh=lambda conn, inputs, changed: refresh_time_in_status(conn, inputs, changed),
    recompute_sql=RECOMPUTE_AT,
    stored=stored_summary,
)


def build_time_in_status(
    engine: Engine, inputs: ReportInputs, *, full: bool = False
) -> ReportResult:
    """Bring report_time_in_status (every queue) up to date: incremental (only the
    changed tasks' rows, `refresh_time_in_status`) unless `full` or the change
    detector decides a full build (`refreshing.build_family`)."""
    return build_family(engine, inputs, FAMILY, full=full)


def refresh_time_in_status(
    conn: Connection, inputs: ReportInputs, changed_table: str = CHANGED_TASKS
) -> ReportResult:
    """Recompute, in the caller's transaction, the rows of the tasks in `changed_table`.

    Rule: the rows under every key of a changed task (current and earlier keys) are
    deleted, and the rows of the live tasks holding those keys are inserted as the
    full build computes them. Nothing else changes: a task's rows depend on its own
    history and row only (and on as_of, which the change detector accounts for by
    listing the tasks whose open-stay days moved)."""
    started = time.perf_counter()
    stage_changed_keys(conn, changed_table, REFRESH_KEYS)
    lock_reports(conn)
    mine = key_restriction(REFRESH_KEYS, "task_key")
    deleted = conn.execute(sa.text(f"DELETE FROM report_time_in_status WHERE true{mine}")).rowcount
    result = write_rows(conn, inputs, REFRESH_KEYS)
    result.extra["deleted"] = deleted
    result.seconds["refresh"] = time.perf_counter() - started
    return result
