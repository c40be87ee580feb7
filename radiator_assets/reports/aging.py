"""report_aging_wip: open product tasks and how long they have been where they are.

Open: not finished and not cancelled (engine, as of as_of), currently in a
discovery, delivery or pause status. For each: days in the current status (the
current raw stay, to as_of), days since work started (engine's `work_started`)
and since creation, against the p85 of the team's closed stays in that status.

The p85 is computed in SQL over every closed (as of as_of) raw stay of the
team's product tasks, finished or not: `percentile_cont(0.85)` is the same
linear interpolation between closest ranks as `aggregate.p85` (a test checks).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.metrics.stays import floor_days
from radiator_assets.reports.common import ReportInputs, ReportResult, TopN
from radiator_assets.reports.loading import queue_params, task_filter
from radiator_assets.reports.task_view import TaskView
from radiator_assets.reports.writing import TableWriter, copy_rows
from radiator_assets.storage.report_models import ReportAgingWip

TABLE = ReportAgingWip.__table__
COLUMNS = [c.name for c in TABLE.columns]
OPEN_BLOCKS = ("discovery", "delivery", "pause")
PREVIEW_ROWS = 10


def create_author_teams(conn: Connection, inputs: ReportInputs) -> None:
    """A temporary table author -> team for every author of a visible product task."""
    queues = [inputs.config.queues.product]
    authors = conn.scalars(
        sa.text(f"SELECT DISTINCT author FROM tracker_tasks WHERE {task_filter(queues)}"),
        {"as_of": inputs.as_of, **queue_params(queues)},
    ).all()
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE rep_author_team (author text PRIMARY KEY, team text NOT NULL) "
            "ON COMMIT DROP"
        )
    )
    rows = [(a, inputs.config.team_of(a)) for a in authors if a is not None]
    copy_rows(conn, sa.table("rep_author_team"), ["author", "team"], rows)  # type: ignore[arg-type]


def team_status_p85(conn: Connection, inputs: ReportInputs) -> dict[tuple[str, str], float]:
    """(team, status) -> p85 of the days of closed raw stays; needs `create_author_teams`."""
    queues = [inputs.config.queues.product]
    rows = conn.execute(
        sa.text(
            "SELECT COALESCE(m.team, :no_team) AS team, h.status, "
            "percentile_cont(0.85) WITHIN GROUP ("
            "  ORDER BY floor(extract(epoch FROM h.end_date - h.start_date) / 86400)) AS p85 "
            "FROM tracker_task_history h "
            f"JOIN (SELECT id, author FROM tracker_tasks WHERE {task_filter(queues)}) t "
            "  ON t.id = h.task_id "
            "LEFT JOIN rep_author_team m ON m.author = t.author "
            "WHERE h.end_date IS NOT NULL AND h.end_date <= :as_of "
            "GROUP BY 1, 2"
        ),
        {"as_of": inputs.as_of, "no_team": inputs.config.teams.no_team, **queue_params(queues)},
    )
    return {(r.team, r.status): float(r.p85) for r in rows}


class AgingCollector:
    """Writes report_aging_wip rows as tasks stream by."""

    def __init__(
        self, conn: Connection, inputs: ReportInputs, p85: dict[tuple[str, str], float]
    ) -> None:
        self.inputs = inputs
        self.p85 = p85
        self.writer = TableWriter(conn, TABLE, COLUMNS)
        self.oldest = TopN(PREVIEW_ROWS, key=lambda r: r["age_in_status"])
        self.over = 0

    def add(self, view: TaskView) -> None:
        m = view.metrics
        if m.finished or m.cancelled or not view.clipped:
            return
        current = view.clipped[-1]
        block = self.inputs.config.block(current.status)
        if block not in OPEN_BLOCKS:
            return
        as_of = self.inputs.as_of
        p85 = self.p85.get((view.team, current.status))
        age = floor_days(current.start, as_of)
        over = None if p85 is None else age > p85
        row = {
            "task_key": view.task.key,
            "summary": view.task.summary,
            "author": view.task.author,
            "team": view.team,
            "current_status": current.status,
            "status_block": block,
            "in_status_since": current.start,
            "age_in_status": age,
            "work_started": m.work_started,
            "age_since_work_started": (
                None if m.work_started is None else floor_days(m.work_started, as_of)
            ),
            "age_since_created": floor_days(view.task.created, as_of),
            "team_status_p85": p85,
            "over_p85": over,
        }
        self.writer.write_dict(row)
        self.over += bool(over)
        self.oldest.add(
            {
                k: row[k]
                for k in ("task_key", "team", "current_status", "age_in_status", "team_status_p85")
            }
        )

    def close(self) -> ReportResult:
        result = ReportResult(TABLE.name, rows=self.writer.close())
        result.preview = self.oldest.items()
        result.thresholds = {"age in status > team p85": self.over}
        return result
