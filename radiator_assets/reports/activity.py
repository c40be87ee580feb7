"""report_status_activity: product-queue status changes in the last full week and in the
week before it, per task author and per team, with the trend, and the open tasks.

Weeks run Monday 00:00 to Monday 00:00 UTC; the last full week is the one that
ends at the latest Monday midnight at or before as_of. A status change is a
stay of the raw history other than a task's first one (which starts at its
creation), counted in the week its start falls in; `tasks_*` counts distinct
tasks changed. Open tasks: tasks whose stay at as_of is in a discovery or a
delivery status. A task counts for its author and the author's team
(configuration); a task without author under the no-team label.

Set-based: one statement of two grouped queries (changes, open stays), then the
author -> team map in Python, and the rows written, in one transaction.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.reports.common import WEEK, ReportInputs, ReportResult, last_full_week_end
from radiator_assets.reports.loading import queue_params, task_filter, tune_for_reports
from radiator_assets.reports.writing import TableWriter
from radiator_assets.storage.report_models import ReportStatusActivity
from radiator_assets.storage.unit_of_work import unit_of_work

TABLE = ReportStatusActivity.__table__
COUNTERS = (
    "changes_last_week",
    "tasks_last_week",
    "changes_prev_week",
    "tasks_prev_week",
    "open_discovery",
    "open_delivery",
)


#: one statement: status changes in the two weeks (through the start_date index) and the
#: stays open at as_of, per author (and week, or status). The open stays are read in two
#: branches, one per index of revision 0009: open (no end, the partial index read
#: index-only) and ending after as_of (a range of the end_date index); without them every
#: stay was read (each product task's stays through the unique key: 0.5 s on 50k tasks).
#: The task CTE is inlined (NOT MATERIALIZED): materialized, its rows reached the joins
#: without statistics, and the planner sorted both sides for merge joins. The open tasks
#: are made distinct first (hashed), then counted: `count(DISTINCT)` sorted 50k rows.
_COUNTS = """
WITH t AS NOT MATERIALIZED (
    SELECT id, author, created_at FROM tracker_tasks WHERE {where}
),
changes AS (
    SELECT t.author, h.start_date >= :last AS last_week, count(*) AS changes,
           count(DISTINCT t.id) AS tasks
    FROM tracker_task_history h JOIN t ON t.id = h.task_id
    WHERE h.start_date >= :prev AND h.start_date < :end AND h.start_date > t.created_at
    GROUP BY 1, 2
),
open_stays AS (
    SELECT task_id, status FROM tracker_task_history
    WHERE end_date IS NULL AND start_date <= :as_of
    UNION ALL
    SELECT task_id, status FROM tracker_task_history
    WHERE end_date > :as_of AND start_date <= :as_of
),
open AS (
    SELECT author, status, count(*) AS tasks
    FROM (SELECT DISTINCT t.id, t.author, o.status
          FROM open_stays o JOIN t ON t.id = o.task_id) d
    GROUP BY 1, 2
)
SELECT 'changes' AS kind, author, CASE WHEN last_week THEN 'last_week' ELSE 'prev_week' END
       AS what, changes, tasks FROM changes
UNION ALL
SELECT 'open', author, status, 0, tasks FROM open
"""


def build_status_activity(engine: Engine, inputs: ReportInputs) -> ReportResult:
    """Replace report_status_activity (the table only: its picture is
    `radiator_assets.reports.drawing`'s).

    Decision: always rebuilt whole, not incremental: the counts are one statement over
    two weeks of stays and the open ones (tens of milliseconds with the indexes of
    revision 0009), cheaper than the change detector's fingerprints of every task."""
    started = time.perf_counter()
    end = last_full_week_end(inputs.as_of)
    with unit_of_work(engine) as conn:
        counts = _counts(conn, inputs, end)
        rows = _rows(inputs, counts, end)
        writer = TableWriter(conn, TABLE)
        writer.write_many([[r[c.name] for c in TABLE.columns] for r in rows])
        written = writer.close()
    result = ReportResult(TABLE.name, rows=written)
    result.preview = [
        {k: r[k] for k in ("name", "changes_last_week", "changes_trend", "tasks_last_week")}
        | {"open": r["open_discovery"] + r["open_delivery"]}
        for r in rows
        if r["dimension"] == "team"
    ]
    result.extra = {"week_start": (end - WEEK).date().isoformat()}
    result.seconds["build"] = time.perf_counter() - started
    return result


def _counts(conn: Connection, inputs: ReportInputs, end: datetime) -> dict[str, dict[str, int]]:
    """Author -> counters, read in the writing transaction (UTC, tuned as a report)."""
    config = inputs.config
    queues = [config.queues.product]
    params = {
        "as_of": inputs.as_of,
        "end": end,
        "last": end - WEEK,
        "prev": end - 2 * WEEK,
        **queue_params(queues),
    }
    conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
    tune_for_reports(conn)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    no_team = config.teams.no_team
    for kind, author, what, n_changes, n_tasks in conn.execute(
        sa.text(_COUNTS.format(where=task_filter(queues))), params
    ):
        if kind == "changes":
            counts[author or no_team][f"changes_{what}"] += n_changes
            counts[author or no_team][f"tasks_{what}"] += n_tasks
        elif (block := config.block(what)) in ("discovery", "delivery"):
            # an author whose open tasks are all in other blocks gets no row
            counts[author or no_team][f"open_{block}"] += n_tasks
    return counts


def _rows(
    inputs: ReportInputs, counts: dict[str, dict[str, int]], end: datetime
) -> list[dict[str, Any]]:
    """The author rows and the team rows (summed through the configuration's teams)."""
    by_team: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    rows: list[dict[str, Any]] = []
    for author, values in counts.items():
        team_values = by_team[inputs.config.team_of(author)]
        for counter, value in values.items():
            team_values[counter] += value
        rows.append(_row("author", author, values, end))
    rows += [_row("team", team, values, end) for team, values in by_team.items()]
    rows.sort(key=lambda r: (r["dimension"] != "team", r["name"]))
    return rows


def _row(dimension: str, name: str, values: dict[str, int], end: Any) -> dict[str, Any]:
    return {
        "dimension": dimension,
        "name": name,
        "week_start": (end - WEEK).date(),
        **values,
        "changes_trend": values["changes_last_week"] - values["changes_prev_week"],
        "tasks_trend": values["tasks_last_week"] - values["tasks_prev_week"],
    }
