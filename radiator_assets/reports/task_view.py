"""One product task as the report builders see it: its stays and the engine's metrics."""

from __future__ import annotations

from dataclasses import dataclass

from radiator_assets.metrics.engine import TaskMetrics, compute_task_metrics
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
    config, as_of = inputs.config, inputs.as_of
    metrics = compute_task_metrics(task.stays, created=task.created, config=config, as_of=as_of)
    clipped = clip_to_as_of(task.stays, as_of)
    filtered = filter_short_stays(clipped, config.min_stay_seconds)
    team = config.team_of(task.author)
    return TaskView(task, metrics, clipped, filtered, team, config.lead_of(team))
