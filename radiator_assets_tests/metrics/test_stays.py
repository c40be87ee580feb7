"""Stays: as_of clipping, the short-stay filter and day flooring."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radiator_assets.metrics.stays import Stay, clip_to_as_of, filter_short_stays, floor_days
from radiator_assets_tests.metrics.util import dt, history


def test_short_stay_filter_spec_example_keeps_discovery_backlog_and_ready_for_development():
    stays = history(
        ("Discovery backlog", "01-01 09:00:00"),
        ("В работе", "01-01 09:00:30"),
        ("Discovery backlog", "01-01 09:00:45"),
        ("Готова к разработке", "01-06 09:00:45"),
    )

    filtered = filter_short_stays(stays, 300)

    assert [s.status for s in filtered] == ["Discovery backlog", "Готова к разработке"]


def test_short_stay_filter_merged_stay_spans_from_first_part_to_next_kept_stay():
    stays = history(
        ("Discovery backlog", "01-01 09:00:00"),
        ("В работе", "01-01 09:00:30"),
        ("Discovery backlog", "01-01 09:00:45"),
        ("Готова к разработке", "01-06 09:00:45"),
    )

    first = filter_short_stays(stays, 300)[0]

    assert (first.start, first.end) == (dt("01-01 09:00:00"), dt("01-06 09:00:45"))


def test_short_stay_filter_always_keeps_a_short_last_stay():
    stays = [
        Stay("Open", dt("01-01"), dt("01-02")),
        Stay("Review", dt("01-02"), dt("01-02 00:00:10")),
    ]

    assert [s.status for s in filter_short_stays(stays, 300)] == ["Open", "Review"]


def test_short_stay_filter_always_keeps_a_short_first_stay():
    stays = history(("Open", "01-01 00:00:00"), ("Review", "01-01 00:00:10"), ("Done", "01-03"))

    assert [s.status for s in filter_short_stays(stays, 300)] == ["Open", "Review", "Done"]


def test_short_stay_filter_keeps_a_stay_exactly_min_stay_long():
    stays = history(("Open", "01-01"), ("Review", "01-02 00:00:00"), ("Done", "01-02 00:05:00"))

    assert [s.status for s in filter_short_stays(stays, 300)] == ["Open", "Review", "Done"]


def test_short_stay_filter_disabled_by_zero_returns_sorted_history_unchanged():
    stays = history(("Open", "01-01"), ("Review", "01-02 00:00:00"), ("Done", "01-02 00:00:01"))

    assert filter_short_stays(list(reversed(stays)), 0) == stays


def test_clip_to_as_of_drops_stays_starting_after_as_of():
    stays = history(("Open", "01-01"), ("Review", "01-05"), ("Done", "01-10"))

    clipped = clip_to_as_of(stays, dt("01-07"))

    assert [s.status for s in clipped] == ["Open", "Review"]


def test_clip_to_as_of_clears_an_end_after_as_of():
    stays = history(("Open", "01-01"), ("Review", "01-05"), ("Done", "01-10"))

    assert clip_to_as_of(stays, dt("01-07"))[-1].end is None


def test_clip_to_as_of_keeps_a_stay_starting_exactly_at_as_of():
    stays = history(("Open", "01-01"), ("Review", "01-05"))

    assert [s.status for s in clip_to_as_of(stays, dt("01-05"))] == ["Open", "Review"]


def test_floor_days_rounds_down_whole_days():
    assert floor_days(dt("01-01 10:00"), dt("01-03 09:59")) == 1


def test_floor_days_is_never_negative():
    assert floor_days(dt("01-05"), dt("01-01")) == 0


def test_stay_rejects_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        Stay("Open", datetime(2025, 1, 1))


# --------------------------------------------------------------------------- properties

STATUSES = ["Open", "Review", "Testing", "Done", "Приостановлено"]
# mostly sub-threshold gaps mixed with long ones, so the filter has work to do
GAPS = st.one_of(st.integers(0, 600), st.integers(600, 40 * 86400))


@st.composite
def histories(draw) -> list[Stay]:
    steps = draw(st.lists(st.tuples(st.sampled_from(STATUSES), GAPS), min_size=1, max_size=12))
    moment = dt("2025-01-01T00:00:00")
    transitions = []
    for status, gap in steps[1:]:
        moment = moment + timedelta(seconds=gap)
        transitions.append((status, moment))
    return history((steps[0][0], dt("2025-01-01T00:00:00")), *transitions)


@given(histories(), st.sampled_from([0, 1, 60, 300, 3600]))
def test_short_stay_filter_is_idempotent(stays, min_stay):
    once = filter_short_stays(stays, min_stay)

    assert filter_short_stays(once, min_stay) == once


@given(histories())
def test_short_stay_filter_leaves_no_two_adjacent_stays_in_the_same_status(stays):
    filtered = filter_short_stays(stays, 300)

    assert all(a.status != b.status for a, b in pairwise(filtered))
