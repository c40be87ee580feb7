"""Property tests of the engine over generated histories."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.metrics.engine import compute_task_metrics, time_in_status
from radiator_assets.metrics.stays import Stay
from radiator_assets_tests.metrics.util import dt, history

CONFIG = MetricsConfig.default()
START = dt("2025-01-01T00:00:00")
STATUSES = [
    "Открыт",
    "Discovery backlog",
    "Готова к разработке",
    "МП / В работе",
    "МП / Внешний тест",
    "Готово к релизу",
    "Выполнено",
    "Выполнено с ИТ",
    "Отменено",
    "Приостановлено",
    "Unknown status",
]
GAPS = st.one_of(st.integers(0, 900), st.integers(900, 30 * 86400))


@st.composite
def histories(draw, last_block: str | None = None) -> list[Stay]:
    steps = draw(st.lists(st.tuples(st.sampled_from(STATUSES), GAPS), min_size=1, max_size=12))
    if last_block == "done":
        steps.append((draw(st.sampled_from(["Выполнено", "Выполнено с ИТ"])), draw(GAPS)))
        if draw(st.booleans()):
            # the done stay lasts long enough to survive the short-stay filter
            steps.append(("Приостановлено", draw(st.integers(900, 30 * 86400))))
    moment = START
    transitions = []
    for status, gap in steps[1:]:
        moment = moment + timedelta(seconds=gap)
        transitions.append((status, moment))
    return history((steps[0][0], START), *transitions)


def day_counts(m) -> list[int]:
    ints = [getattr(m, f.name) for f in fields(m) if isinstance(getattr(m, f.name), int)]
    ints = [v for v in ints if not isinstance(v, bool)]
    return ints + list(m.time_in_status.values()) + list(m.testing_returns.values())


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(-5 * 86400, 200 * 86400))
def test_no_metric_is_ever_negative(stays, as_of_offset):
    as_of = START + timedelta(seconds=as_of_offset)

    m = compute_task_metrics(stays, created=START, config=CONFIG, as_of=as_of)

    assert all(v >= 0 for v in day_counts(m))


@settings(max_examples=200, deadline=None)
@given(histories(), st.integers(0, 200 * 86400))
def test_time_in_status_is_never_negative(stays, as_of_offset):
    days = time_in_status(stays, START + timedelta(seconds=as_of_offset))

    assert all(v >= 0 for v in days.values())


@settings(max_examples=300, deadline=None)
@given(histories(last_block="done"), st.integers(1, 400 * 86400))
def test_as_of_in_the_future_changes_nothing_for_finished_tasks(stays, extra_seconds):
    last_event = max(s.start for s in stays)
    now = last_event + timedelta(seconds=1)
    later = now + timedelta(seconds=extra_seconds)

    a = compute_task_metrics(stays, created=START, config=CONFIG, as_of=now)
    b = compute_task_metrics(stays, created=START, config=CONFIG, as_of=later)

    assert a.finished
    stable = [
        "finished",
        "cancelled",
        "completed",
        "done_reached_at",
        "ttm",
        "ttm_pause",
        "ttd",
        "ttd_pause",
        "ready_for_dev_at",
        "tail",
        "devlt",
        "went_through_development",
        "work_started",
        "current_status",
        "period",
        "ttd_period",
    ]
    assert {k: getattr(a, k) for k in stable} == {k: getattr(b, k) for k in stable}
