"""One product task as the report builders see it: its stays and the engine's metrics."""

from __future__ import annotations

from dataclasses import dataclass

from radiator_assets.metrics.engine import TaskMetrics, metrics_of_clean_history
from radiator_assets.metrics.stays import Stay, clip_to_as_of, filter_short_stays
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.loading import TaskHistory


@dataclass(frozen=True, slots=True)
class TaskView:
    task: TaskHistory
    metrics: TaskMetrics
    #: raw history clipped to as_of (what time in status and returns read)
    clipped: list[Stay]
    #: clipped, then the short-stay filter (what every metric reads)
    filtered: list[Stay]
    team: str
    lead: str


def view_of(task: TaskHistory, inputs: ReportInputs) -> TaskView:
    """The task's metrics as of the build's as_of; its history is cleaned once, for
    the engine and the collectors both, and the engine's status-time fields are not
    computed (report_time_in_status and the returns are built in SQL)."""
    config, as_of = inputs.config, inputs.as_of
    clipped = clip_to_as_of(task.stays, as_of)
    filtered = filter_short_stays(clipped, config.min_stay_seconds)
    metrics = metrics_of_clean_history(
        clipped, filtered, created=task.created, config=config, as_of=as_of, status_report=False
    )
    team = config.team_of(task.author)
    return TaskView(task, metrics, clipped, filtered, team, config.lead_of(team))
