"""report_ttm_details: the rows of the spec's "Rows of the details report".

A product-queue task is a row when it is

* finished, with its completion date inside a configured period, or
* unfinished, not cancelled, and past discovery: it entered the
  ready-for-development role status by as_of (the engine's `ready_for_dev_at`,
  read on the short-stay-filtered history clipped to as_of, the same first entry
  TTD is measured to). A task waiting in "Готова к разработке" is such a row,
  whatever block the status file gives that status (the predecessor's file puts
  it in `discovery`); a task that never reached it (still in discovery, or
  straight from discovery into delivery without it) is not.

Decision: the spec, not the predecessor, decides where they differ. The
predecessor took unfinished rows from tasks whose *raw* history has a
"Готова к разработке" stay starting between the first period's start and the
later of the last period's end and as_of; here a two-minute click through that
status (filtered out, so no TTD) does not make a row, and an early entry
(before the first period) does.

`ttm` of an unfinished task is the engine's TTM measured to as_of
(`ttm_unfinished`), flagged by `finished = false`; the summary reads finished
rows only. Team from the author, lead from the team
(configuration maps); returns are the sums over linked implementation tasks
(see `returns.py`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.reports.common import ReportInputs, ReportResult, TopN
from radiator_assets.reports.task_view import TaskView
from radiator_assets.reports.writing import TableWriter
from radiator_assets.storage.report_models import ReportTtmDetails

TABLE = ReportTtmDetails.__table__
COLUMNS = [c.name for c in TABLE.columns]
PREVIEW_ROWS = 10
PREVIEW_COLUMNS = ("task_key", "team", "period", "ttm", "tail", "devlt", "ttd", "pause", "finished")
THRESHOLD_METRICS = ("ttm", "ttd", "tail", "devlt")


def past_discovery(view: TaskView) -> bool:
    """Entered the ready-for-development status by as_of (TTD is known)."""
    return view.metrics.ready_for_dev_at is not None


def included(view: TaskView) -> bool:
    """A row of the details report (see the module docstring)."""
    m = view.metrics
    if m.cancelled:
        return False
    if m.finished:
        return m.period is not None
    return past_discovery(view)


def details_row(view: TaskView, returns: tuple[int, int, int]) -> dict[str, Any]:
    m, task = view.metrics, view.task
    return {
        "task_key": task.key,
        "summary": task.summary,
        "author": task.author,
        "team": view.team,
        "lead": view.lead,
        "period": m.period,
        "ttd_period": m.ttd_period,
        "ttm": m.ttm if m.finished else m.ttm_unfinished,
        "pause": m.pause,
        "tail": m.tail,
        "devlt": m.devlt,
        "ttd": m.ttd,
        "ttd_pause": m.ttd_pause,
        "discovery_backlog_days": m.discovery_backlog_days,
        "ready_for_dev_days": m.ready_for_dev_days,
        "returns_testing": returns[0],
        "returns_external_test": returns[1],
        "returns_total": returns[2],
        "created": task.created,
        "work_started": m.work_started,
        "completed": m.completed,
        "went_through_development": m.went_through_development,
        "finished": m.finished,
        "current_status": m.current_status,
        "status_block": m.status_block,
    }


class DetailsCollector:
    """Writes the rows of report_ttm_details as tasks stream by (COPY in batches)."""

    def __init__(self, conn: Connection, inputs: ReportInputs, *, replace: bool = True) -> None:
        """`replace`: the table is replaced (a full build); else rows are appended."""
        self.writer = TableWriter(conn, TABLE, COLUMNS, replace=replace)
        self.slowest = TopN(PREVIEW_ROWS, key=lambda r: (r["finished"], r["ttm"] or 0))
        thresholds = inputs.config.thresholds
        self.limits = {metric: thresholds.for_metric(metric) for metric in THRESHOLD_METRICS}
        self.over: dict[str, int] = {}
        self.finished = 0

    def add(self, view: TaskView, returns: tuple[int, int, int]) -> None:
        if not included(view):
            return
        row = details_row(view, returns)
        self.writer.write_dict(row)
        self.slowest.add({c: row[c] for c in PREVIEW_COLUMNS})
        if row["finished"]:
            self.finished += 1
            for metric, limit in self.limits.items():
                value = row[metric]
                if limit is not None and value is not None and value > limit:
                    label = f"{metric} > {limit}"
                    self.over[label] = self.over.get(label, 0) + 1

    def close(self) -> ReportResult:
        result = ReportResult(TABLE.name, rows=self.writer.close())
        result.preview = self.slowest.items()
        result.thresholds = {k: self.over.get(k, 0) for k in self._labels()}
        result.extra = {"finished": self.finished, "unfinished": result.rows - self.finished}
        return result

    def _labels(self) -> list[str]:
        return [f"{m} > {v}" for m, v in self.limits.items() if v is not None]


def stored_result(conn: Connection, inputs: ReportInputs) -> ReportResult:
    """The result of the stored table (an incremental build saw only the changed rows)."""
    rows, finished = conn.execute(
        sa.text(f"SELECT count(*), count(*) FILTER (WHERE finished) FROM {TABLE.name}")
    ).one()
    result = ReportResult(TABLE.name, rows=rows)
    preview = conn.execute(
        sa.text(
            f"SELECT {', '.join(PREVIEW_COLUMNS)} FROM {TABLE.name} "
            f"ORDER BY finished DESC, COALESCE(ttm, 0) DESC, task_key LIMIT {PREVIEW_ROWS}"
        )
    )
    result.preview = [dict(r) for r in preview.mappings()]
    thresholds = inputs.config.thresholds
    for metric in THRESHOLD_METRICS:
        limit = thresholds.for_metric(metric)
        if limit is not None:
            result.thresholds[f"{metric} > {limit}"] = conn.scalar(
                sa.text(f"SELECT count(*) FROM {TABLE.name} WHERE finished AND {metric} > :limit"),
                {"limit": limit},
            )
    result.extra = {"finished": finished, "unfinished": rows - finished}
    return result
