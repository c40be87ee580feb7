"""Aggregates: percentile interpolation, summaries, grouping."""

from __future__ import annotations

import pytest

from radiator_assets.metrics.aggregate import (
    group_summaries,
    median,
    over_threshold,
    p85,
    percentile,
    summarize,
)


def test_p85_of_one_to_five_is_4_4():
    assert p85([1, 2, 3, 4, 5]) == pytest.approx(4.4)


def test_p85_of_one_to_three_is_2_7():
    assert p85([1, 2, 3]) == pytest.approx(2.7)


def test_p85_does_not_depend_on_input_order():
    assert p85([5, 1, 4, 2, 3]) == pytest.approx(4.4)


def test_p85_of_a_single_value_is_that_value():
    assert p85([7]) == 7


def test_p85_of_nothing_is_none():
    assert p85([]) is None


def test_median_of_an_even_count_is_the_midpoint():
    assert median([1, 2, 3, 10]) == pytest.approx(2.5)


def test_percentile_rejects_q_outside_0_1():
    with pytest.raises(ValueError):
        percentile([1, 2], 85)


def test_over_threshold_counts_strictly_greater_values():
    assert over_threshold([59, 60, 61, None], 60) == 1


def test_summarize_skips_missing_values():
    s = summarize([1, None, 2, 3, 4, 5], threshold=3)

    assert (s.count, s.mean, s.median, s.p85, s.max, s.over_threshold) == (
        5,
        3.0,
        3.0,
        pytest.approx(4.4),
        5,
        2,
    )


def test_summarize_of_nothing_has_count_0_and_no_statistics():
    s = summarize([None])

    assert (s.count, s.mean, s.median, s.p85, s.max) == (0, None, None, None, None)


def test_group_summaries_per_period_and_team():
    rows = [
        ("Q1", "Alpha", 10),
        ("Q1", "Alpha", 20),
        ("Q1", "Beta", 5),
        (None, "Beta", 99),
        ("Q2", "Alpha", None),
    ]

    groups = group_summaries(
        rows, key=lambda r: (r[0], r[1]) if r[0] else None, value=lambda r: r[2]
    )

    assert {k: (v.count, v.max) for k, v in groups.items()} == {
        ("Q1", "Alpha"): (2, 20),
        ("Q1", "Beta"): (1, 5),
        ("Q2", "Alpha"): (0, None),
    }
