"""report_status_activity: product-queue status changes in the last full week and in the
week before it, per task author and per team, with the trend, and the open tasks.

Weeks run Monday 00:00 to Monday 00:00 UTC; the last full week is the one that
ends at the latest Monday midnight at or before as_of. A status change is a
stay of the raw history other than a task's first one (which starts at its
creation), counted in the week its start falls in; `tasks_*` counts distinct
tasks changed. Open tasks: tasks whose stay at as_of is in a discovery or a
delivery status. A task counts for its author and the author's team
(configuration); a task without author under the no-team label.

Set-based: three grouped queries, then the author -> team map in Python.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.reports.common import WEEK, ReportInputs, ReportResult, last_full_week_end
from radiator_assets.reports.loading import queue_params, snapshot, task_filter
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


def build_status_activity(engine: Engine, inputs: ReportInputs) -> ReportResult:
    """Replace report_status_activity (the table only: its picture is
    `radiator_assets.reports.drawing`'s)."""
    started = time.perf_counter()
    config, as_of = inputs.config, inputs.as_of
    end = last_full_week_end(as_of)
    last_start, prev_start = end - WEEK, end - 2 * WEEK
    queues = [config.queues.product]
    params = {
        "as_of": as_of,
        "end": end,
        "last": last_start,
        "prev": prev_start,
        **queue_params(queues),
    }
    tasks = f"(SELECT id, author, created_at FROM tracker_tasks WHERE {task_filter(queues)}) t"
    no_team = config.teams.no_team
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    with snapshot(engine) as reader:
        changes = reader.execute(
            sa.text(
                "SELECT t.author, h.start_date >= :last AS last_week, count(*) AS changes, "
                "count(DISTINCT t.id) AS tasks "
                f"FROM tracker_task_history h JOIN {tasks} ON t.id = h.task_id "
                "WHERE h.start_date >= :prev AND h.start_date < :end "
                "AND h.start_date > t.created_at GROUP BY 1, 2"
            ),
            params,
        )
        for author, last_week, n_changes, n_tasks in changes:
            which = "last_week" if last_week else "prev_week"
            counts[author or no_team][f"changes_{which}"] += n_changes
            counts[author or no_team][f"tasks_{which}"] += n_tasks
        current = reader.execute(
            sa.text(
                "SELECT t.author, h.status, count(DISTINCT t.id) AS tasks "
                f"FROM tracker_task_history h JOIN {tasks} ON t.id = h.task_id "
                "WHERE h.start_date <= :as_of AND (h.end_date IS NULL OR h.end_date > :as_of) "
                "GROUP BY 1, 2"
            ),
            params,
        )
        for author, status, n_tasks in current:
            block = config.block(status)
            if block in ("discovery", "delivery"):
                counts[author or no_team][f"open_{block}"] += n_tasks
    by_team: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    rows: list[dict[str, Any]] = []
    for author, values in counts.items():
        team_values = by_team[config.team_of(author)]
        for counter, value in values.items():
            team_values[counter] += value
        rows.append(_row("author", author, values, end))
    rows += [_row("team", team, values, end) for team, values in by_team.items()]
    rows.sort(key=lambda r: (r["dimension"] != "team", r["name"]))
    with unit_of_work(engine) as conn:
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


def _row(dimension: str, name: str, values: dict[str, int], end: Any) -> dict[str, Any]:
    return {
        "dimension": dimension,
        "name": name,
        "week_start": (end - WEEK).date(),
        **values,
        "changes_trend": values["changes_last_week"] - values["changes_prev_week"],
        "tasks_trend": values["tasks_last_week"] - values["tasks_prev_week"],
    }
