"""Per-task flow metrics (the contract: shared spec `metrics.md`).

Entry point: `compute_task_metrics(stays, created=..., config=..., as_of=...)`.
It clips the history to `as_of` first, then applies the short-stay filter
(`config.min_stay_seconds`) for every metric except testing returns and the
status-time report (`TaskMetrics.time_in_status`), which use the clipped raw
history.

Durations are calendar days, each interval floored (`floor(seconds/86400)`)
before summing, never below 0. Status names are matched through the
configuration (key or display name, case-insensitive).

Readings of the spec where it leaves room (each also stated where it applies):

* finished <=> the last non-pause stay of the filtered history is `done`
  (= "ends in a run of done and pause stays containing a done"); completion is
  that stay's start. Cancelled <=> the last non-pause stay is `cancelled`.
* cancelled tasks get no TTM, TTM-unfinished, TTD or TTD pause (all None).
* a done stay that survives the filter but is followed by work ("ten-minute
  Выполнено с ИТ between work stays") is a real done (`done_reached_at`) but the
  task is reopened, so it is unfinished.
* `discovery_backlog_days` / `ready_for_dev_days` use the filtered history (they
  are metrics); `time_in_status` uses the raw clipped history (status-time report).
* DevLT's fallback "statuses listed after the external test status" means every
  later status of the file except the `cancelled` block (pause statuses included).
* `ttd_period` comes from `ready_for_dev_at` even for a cancelled task (whose
  `ttd` is None).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.metrics.stays import (
    Stay,
    clip_to_as_of,
    ensure_utc,
    filter_short_stays,
    floor_days,
)

__all__ = [
    "TaskMetrics",
    "compute_task_metrics",
    "linked_implementation_tasks",
    "metrics_of_clean_history",
    "sum_testing_returns",
    "testing_returns",
    "testing_returns_for",
    "time_in_status",
]


@dataclass(frozen=True)
class TaskMetrics:
    """Everything the reports need about one task, as of one instant.

    Day counts are ints (floored calendar days, >= 0); None means "not defined
    for this task" (e.g. TTM of an unfinished task)."""

    #: finished: the filtered history ends in done/pause stays with at least one done
    finished: bool
    #: cancelled: the last non-pause stay of the filtered history is `cancelled`
    cancelled: bool
    #: completion date: start of the last done stay of the final done/pause run
    completed: datetime | None
    #: start of the first done stay of the filtered history, even if later reopened
    done_reached_at: datetime | None
    #: time to market, finished (not cancelled) tasks only
    ttm: int | None
    #: pause_before(completion) of a finished task
    ttm_pause: int | None
    #: TTM measured to as_of for unfinished, non-cancelled tasks (never mix with `ttm`)
    ttm_unfinished: int | None
    #: time to delivery: creation -> first ready-for-development, minus pause before it
    ttd: int | None
    #: pause_before(first ready-for-development)
    ttd_pause: int | None
    #: first entry into ready-for-development (filtered history)
    ready_for_dev_at: datetime | None
    #: pause_total: every pause stay, an open one up to as_of
    pause: int
    tail: int | None
    devlt: int | None
    #: time in the discovery-backlog / ready-for-development role statuses (filtered)
    discovery_backlog_days: int
    ready_for_dev_days: int
    went_through_development: bool
    #: end of the last discovery-backlog stay (None if never there or still there)
    work_started: datetime | None
    current_status: str | None
    status_block: str | None
    #: period of the completion date / of the first ready-for-development date
    period: str | None
    ttd_period: str | None
    #: status-time report: days per status on the raw (unfiltered) clipped history
    time_in_status: dict[str, int] = field(default_factory=dict)
    #: returns into each configured testing-return status (raw clipped history)
    testing_returns: dict[str, int] = field(default_factory=dict)
    #: statuses of the history that the configuration does not list
    unknown_statuses: tuple[str, ...] = ()


# --------------------------------------------------------------------------- public helpers


def time_in_status(stays: Iterable[Stay], as_of: datetime) -> dict[str, int]:
    """Days per status: for each run of stays in S, `floor(next different status
    start - run start)`; an open last run counts up to `as_of` (a closed last one
    to its end). Pauses (any other status) split runs and are not included.

    The history is clipped to `as_of` first; no short-stay filter (status-time
    report). Keys are the display names as they appear in the stays."""
    as_of = ensure_utc(as_of, "as_of")
    return _days_by_run(clip_to_as_of(stays, as_of), as_of, key=lambda s: s.status)


def testing_returns(raw_stays: Iterable[Stay], as_of: datetime | None = None) -> dict[str, int]:
    """Returns per status on the raw history: entries into S (a stay whose previous
    stay had another status; the first stay is an entry) minus 1, at least 0.

    Every status of the history appears as a key. With `as_of`, the history is
    clipped first. No short-stay filter."""
    ordered = (
        clip_to_as_of(raw_stays, as_of) if as_of is not None else sorted(raw_stays, key=_start)
    )
    entries: dict[str, int] = defaultdict(int)
    previous: str | None = None
    for stay in ordered:
        if stay.status != previous:
            entries[stay.status] += 1
        previous = stay.status
    return {status: max(0, count - 1) for status, count in entries.items()}


def testing_returns_for(
    raw_stays: Iterable[Stay], config: MetricsConfig, as_of: datetime | None = None
) -> dict[str, int]:
    """Returns into each of `config.roles.testing_returns` (keys are the role names,
    0 when never entered); statuses match by key or name, case-insensitively."""
    ordered = (
        clip_to_as_of(raw_stays, as_of) if as_of is not None else sorted(raw_stays, key=_start)
    )
    out: dict[str, int] = {}
    for role in config.roles.testing_returns:
        entries = 0
        previous_in_role = False
        for stay in ordered:
            in_role = config.same_status(stay.status, role)
            if in_role and not previous_in_role:
                entries += 1
            previous_in_role = in_role
        out[role] = max(0, entries - 1)
    return out


def sum_testing_returns(per_task: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum returns across tasks (e.g. the implementation tasks linked to one product
    task; pass each task once: see `linked_implementation_tasks`)."""
    total: dict[str, int] = defaultdict(int)
    for returns in per_task:
        for status, count in returns.items():
            total[status] += count
    return dict(total)


def linked_implementation_tasks(
    product_task: str,
    *,
    relates: Iterable[tuple[str, str]],
    children: Mapping[str, Iterable[str]],
    queue_of: Callable[[str], str | None],
    implementation_queue: str,
    max_depth: int = 6,
) -> set[str]:
    """The implementation tasks whose returns count for `product_task`.

    Tasks linked to it with `relates` in either direction (`relates` holds the link
    pairs as stored, any direction) that are in `implementation_queue`, plus their
    sub-tasks (`children`: parent -> sub-tasks) down to `max_depth` levels, each
    task once. Reading: sub-tasks are included whatever their queue; the product
    task itself is never included."""
    wanted = implementation_queue.strip().casefold()
    direct: set[str] = set()
    for a, b in relates:
        other = b if a == product_task else a if b == product_task else None
        if other is not None and other != product_task:
            queue = queue_of(other)
            if queue is not None and queue.strip().casefold() == wanted:
                direct.add(other)
    found = set(direct)
    frontier = set(direct)
    for _ in range(max_depth):
        frontier = {c for task in frontier for c in children.get(task, ())} - found - {product_task}
        if not frontier:
            break
        found |= frontier
    return found


# --------------------------------------------------------------------------- the engine


def compute_task_metrics(
    stays: Sequence[Stay],
    *,
    created: datetime,
    config: MetricsConfig,
    as_of: datetime,
) -> TaskMetrics:
    """All per-task metrics of one task as of `as_of` (see the module docstring).

    `stays` is the raw status history (any order; display names). `created` is
    the task's creation instant; `as_of` is usually `config.resolve_as_of(run_start)`.
    Both must be timezone-aware."""
    as_of = ensure_utc(as_of, "as_of")
    raw = clip_to_as_of(stays, as_of)
    hist = filter_short_stays(raw, config.min_stay_seconds)
    return metrics_of_clean_history(raw, hist, created=created, config=config, as_of=as_of)


def metrics_of_clean_history(
    raw: list[Stay],
    hist: list[Stay],
    *,
    created: datetime,
    config: MetricsConfig,
    as_of: datetime,
    status_report: bool = True,
) -> TaskMetrics:
    """`compute_task_metrics` for a caller that has the clean-up's results already:
    `raw` is `clip_to_as_of(stays, as_of)` and `hist` its `filter_short_stays`
    (the report builders need both themselves; cleaning a history twice cost a
    third of a report build).

    With `status_report=False` the fields of the status-time report
    (`time_in_status`, `testing_returns`, `unknown_statuses`) are left empty:
    the product reports do not read them, and they are half the remaining cost."""
    created = ensure_utc(created, "created")
    as_of = ensure_utc(as_of, "as_of")
    return _Task(hist, raw, created, config, as_of).metrics(status_report=status_report)


class _Task:
    def __init__(
        self,
        hist: list[Stay],
        raw: list[Stay],
        created: datetime,
        config: MetricsConfig,
        as_of: datetime,
    ):
        self.hist = hist
        self.raw = raw
        self.created = created
        self.config = config
        self.as_of = as_of
        self.min_stay = config.min_stay_seconds
        self.pauses = [s for s in hist if config.is_pause(s.status)]
        self._roles: dict[str, list[Stay]] = {}

    # -- roles -----------------------------------------------------------------

    def _role(self, role: str) -> list[Stay]:
        """The filtered stays in `role`'s status (several metrics ask for the same role)."""
        found = self._roles.get(role)
        if found is None:
            same = self.config.same_status
            found = self._roles[role] = [s for s in self.hist if same(s.status, role)]
        return found

    # -- pause -----------------------------------------------------------------

    def pause_total(self) -> int:
        """Sum over pause stays of floor(length), an open one up to as_of."""
        return sum(floor_days(s.start, s.end_at(self.as_of)) for s in self.pauses)

    def pause_between(self, a: datetime, b: datetime) -> int:
        """Pause overlapping [a, b): per stay floor(overlap), summed."""
        total = 0
        for s in self.pauses:
            lo, hi = max(s.start, a), min(s.end_at(self.as_of), b)
            if hi > lo:
                total += floor_days(lo, hi)
        return total

    def pause_before(self, t: datetime) -> int:
        """Pause overlapping [created, t)."""
        return self.pause_between(self.created, t)

    # -- completion ------------------------------------------------------------

    def last_non_pause(self) -> Stay | None:
        return next((s for s in reversed(self.hist) if not self.config.is_pause(s.status)), None)

    # -- metrics ---------------------------------------------------------------

    def tail(self) -> int | None:
        """Last external-test stay that is open or >= min_stay; end = start of the
        first done stay after it, else as_of when that stay is open, else None."""
        valid = [
            s for s in self._role(self.config.roles.external_test) if s.is_valid(self.min_stay)
        ]
        if not valid:
            return None
        test = valid[-1]
        done = next(
            (s for s in self.hist if s.start > test.start and self.config.is_done(s.status)), None
        )
        if done is not None:
            end = done.start
        elif test.is_open:
            end = self.as_of
        else:
            return None
        return max(0, floor_days(test.start, end) - self.pause_between(test.start, end))

    def devlt(self) -> int | None:
        """Calendar days, pauses not subtracted.

        Start: first in-development stay closed and >= min_stay. End: start of the
        last valid external-test stay; else start of the first valid stay of a status
        listed after the external test status (cancelled excluded); else, if an
        in-development stay is open: from that open stay's start to as_of."""
        config = self.config
        in_dev = self._role(config.roles.in_development)
        if not in_dev:
            return None
        start = next((s.start for s in in_dev if not s.is_open and s.is_valid(self.min_stay)), None)
        if start is not None:
            tests = [s for s in self._role(config.roles.external_test) if s.is_valid(self.min_stay)]
            if tests:
                return floor_days(start, tests[-1].start)
            later = config.statuses_after(config.roles.external_test)
            following = next(
                (
                    s
                    for s in self.hist
                    if s.is_valid(self.min_stay) and config.status(s.status) in later
                ),
                None,
            )
            if following is not None:
                return floor_days(start, following.start)
        open_dev = next((s for s in in_dev if s.is_open), None)
        if open_dev is not None:
            return floor_days(open_dev.start, self.as_of)
        return None

    def role_days(self, role: str) -> int:
        """Days in `role`'s status: each run of consecutive stays in it counts
        floor(next stay's start - run start), a last run up to its end or as_of
        (`_days_by_run` with the role as the key, for one key)."""
        same, hist = self.config.same_status, self.hist
        inside = [same(s.status, role) for s in hist]
        total, i, n = 0, 0, len(hist)
        while i < n:
            if not inside[i]:
                i += 1
                continue
            j = i
            while j + 1 < n and inside[j + 1]:
                j += 1
            end = hist[j + 1].start if j + 1 < n else hist[j].end_at(self.as_of)
            total += floor_days(hist[i].start, end)
            i = j + 1
        return total

    def metrics(self, *, status_report: bool = True) -> TaskMetrics:
        config, as_of, created = self.config, self.as_of, self.created
        roles = config.roles

        last = self.last_non_pause()
        finished = last is not None and config.is_done(last.status)
        cancelled = last is not None and config.is_cancelled(last.status)
        completed = last.start if finished and last is not None else None
        done_reached_at = next((s.start for s in self.hist if config.is_done(s.status)), None)

        ttm = ttm_pause = ttm_unfinished = None
        if completed is not None:
            ttm_pause = self.pause_before(completed)
            ttm = max(0, floor_days(created, completed) - ttm_pause)
        elif not cancelled and created <= as_of:
            ttm_unfinished = max(0, floor_days(created, as_of) - self.pause_before(as_of))

        rfd = self._role(roles.ready_for_development)
        ready_for_dev_at = rfd[0].start if rfd else None
        ttd = ttd_pause = None
        if ready_for_dev_at is not None and not cancelled:
            ttd_pause = self.pause_before(ready_for_dev_at)
            ttd = max(0, floor_days(created, ready_for_dev_at) - ttd_pause)

        backlog = self._role(roles.discovery_backlog)
        work_started = backlog[-1].end if backlog else None

        went_through_development = any(
            s.seconds(as_of) >= self.min_stay for s in self._role(roles.in_development)
        )

        current = self.raw[-1].status if self.raw else None
        return TaskMetrics(
            finished=finished,
            cancelled=cancelled,
            completed=completed,
            done_reached_at=done_reached_at,
            ttm=ttm,
            ttm_pause=ttm_pause,
            ttm_unfinished=ttm_unfinished,
            ttd=ttd,
            ttd_pause=ttd_pause,
            ready_for_dev_at=ready_for_dev_at,
            pause=self.pause_total(),
            tail=self.tail(),
            devlt=self.devlt(),
            discovery_backlog_days=self.role_days(roles.discovery_backlog),
            ready_for_dev_days=self.role_days(roles.ready_for_development),
            went_through_development=went_through_development,
            work_started=work_started,
            current_status=current,
            status_block=config.block_of(current) if current is not None else None,
            period=config.period_of(completed),
            ttd_period=config.period_of(ready_for_dev_at),
            **(self.status_report() if status_report else {}),
        )

    def status_report(self) -> dict[str, Any]:
        """The fields of the status-time report (raw history)."""
        raw = self.raw
        return {
            "time_in_status": _days_by_run(raw, self.as_of, key=lambda s: s.status),
            "testing_returns": testing_returns_for(raw, self.config),
            "unknown_statuses": tuple(self.config.unknown_statuses(s.status for s in raw)),
        }


# --------------------------------------------------------------------------- internals


def _start(stay: Stay) -> datetime:
    return stay.start


def _days_by_run(
    ordered: Sequence[Stay], as_of: datetime, key: Callable[[Stay], Any]
) -> dict[Any, int]:
    """Group consecutive stays with the same key into runs; each run counts
    floor(next run start - run start), the last run up to its end or as_of.
    Runs whose key is None are not counted."""
    out: dict[Any, int] = {}
    i = 0
    while i < len(ordered):
        k = key(ordered[i])
        j = i
        while j + 1 < len(ordered) and key(ordered[j + 1]) == k:
            j += 1
        end = ordered[j + 1].start if j + 1 < len(ordered) else ordered[j].end_at(as_of)
        if k is not None:
            out[k] = out.get(k, 0) + floor_days(ordered[i].start, end)
        i = j + 1
    return out
