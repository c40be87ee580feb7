"""When a product task's as_of-dependent values change: `recompute_at(view, inputs)`.

Every dependence of the engine (metrics/engine.py, metrics/stays.py) and of the
product collectors on as_of, for a task whose clipped history is the same at
two as_of values (no created, start or end instant between them: `changes.py`
checks that in SQL), is one of:

* `floor_days(t, as_of)` = `(as_of - t) // 1 day` for an anchor `t`: created
  (TTM unfinished, aging's age since creation), the start of an open stay, raw or
  filtered (pause total, pause before as_of, tail to as_of, DevLT of an open
  development stay, aging's age in status), the start of the trailing run of
  filtered stays in the last stay's status (`role_days`' last run), the start of
  the last raw stay (aging's age in status, open or not), and `work_started`
  (aging's age since work started). The value ticks over at `t + (k + 1) days`,
  `k` the current count.
* `stay.seconds(as_of) >= min_stay` of an open stay (went through development):
  it turns true at `start + min_stay`.

The flow's last week ends at as_of: it compares stay starts and ends with it,
which the SQL window rule covers; its week list is the build's grain.
`recompute_at` is the earliest of those instants after as_of: an unchanged task
is recomputed once as_of reaches it. Decision: the anchors are the ones the
code measures to as_of, not every start and end of the history: with about 25
stays a task, builds five minutes apart would otherwise recompute a sixth of
the tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from radiator_assets.metrics.stays import DAY, Stay
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.task_view import TaskView


def next_tick(anchor: datetime, as_of: datetime) -> datetime:
    """The first instant after `as_of` at which `floor_days(anchor, as_of)` changes."""
    if anchor > as_of:
        return anchor
    return anchor + ((as_of - anchor) // DAY + 1) * DAY


def _trailing_run(filtered: list[Stay], inputs: ReportInputs) -> list[Stay]:
    """The last filtered stay and the ones before it in the same configured status."""
    if not filtered:
        return []
    last = filtered[-1]
    run = [last]
    for stay in reversed(filtered[:-1]):
        if not inputs.config.same_status(stay.status, last.status):
            break
        run.append(stay)
    return run


def anchors(view: TaskView, inputs: ReportInputs) -> set[datetime]:
    """The instants the task's values count whole days from up to as_of."""
    found = {view.task.created}
    if view.clipped:
        found.add(view.clipped[-1].start)
    found.update(s.start for s in view.clipped if s.end is None)
    found.update(s.start for s in view.filtered if s.end is None)
    found.update(s.start for s in _trailing_run(view.filtered, inputs))
    if view.metrics.work_started is not None:
        found.add(view.metrics.work_started)
    return found


def recompute_at(view: TaskView, inputs: ReportInputs) -> datetime:
    """The earliest as_of after `inputs.as_of` at which the task's values may change."""
    as_of = inputs.as_of
    soonest = min(next_tick(t, as_of) for t in anchors(view, inputs))
    min_stay = timedelta(seconds=inputs.config.min_stay_seconds)
    for stay in view.clipped + view.filtered:
        threshold = stay.start + min_stay
        if stay.end is None and threshold > as_of:
            soonest = min(soonest, threshold)
    return soonest
