"""Tracker timestamps and the incremental window query."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from radiator_assets.tracker.errors import InvalidTrackerDatetime
from radiator_assets.tracker.query import (
    format_query_datetime,
    format_tracker_datetime,
    incremental_query,
    parse_tracker_datetime,
    window_start,
)


def test_parse_utc_offset_without_colon():
    assert parse_tracker_datetime("2021-02-22T18:35:50.157+0000") == datetime(
        2021, 2, 22, 18, 35, 50, 157000, tzinfo=UTC
    )


def test_parse_moscow_offset_converts_to_utc():
    assert parse_tracker_datetime("2021-02-22T21:35:50.157+0300") == datetime(
        2021, 2, 22, 18, 35, 50, 157000, tzinfo=UTC
    )


def test_parse_result_is_aware_and_in_utc():
    parsed = parse_tracker_datetime("2021-02-22T21:35:50.157+0300")
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2021-02-22T18:35:50.157Z",
        "2021-02-22T21:35:50.157+03:00",
        "2021-02-22T13:05:50.157-0530",
        "2021-02-22T20:35:50.157+02",
        "2021-02-22 18:35:50.157+0000",
        "2021-02-22T18:35:50.157000+00:00",
    ],
)
def test_parse_accepts_odd_offsets_and_separators(text):
    assert parse_tracker_datetime(text) == datetime(2021, 2, 22, 18, 35, 50, 157000, tzinfo=UTC)


def test_parse_without_fraction_or_seconds():
    assert parse_tracker_datetime("2021-02-22T18:35+0000") == datetime(
        2021, 2, 22, 18, 35, tzinfo=UTC
    )


def test_parse_nanoseconds_are_truncated_to_microseconds():
    assert parse_tracker_datetime("2021-02-22T18:35:50.123456789+0000").microsecond == 123456


def test_parse_crossing_midnight_with_offset():
    assert parse_tracker_datetime("2021-01-01T01:00:00.000+0300") == datetime(
        2020, 12, 31, 22, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2021-02-22T18:35:50.157",
        "2021-02-30T10:00:00+0000",
        "2021-02-22T18:35:50+2500",
        "2021-02-22T18:35:50.157+0000 trailing",
    ],
)
def test_parse_rejects_garbage_with_a_clear_error(text):
    with pytest.raises(InvalidTrackerDatetime, match="Tracker timestamp"):
        parse_tracker_datetime(text)


def test_parse_rejects_non_strings():
    with pytest.raises(InvalidTrackerDatetime, match="expected a timestamp string"):
        parse_tracker_datetime(None)  # type: ignore[arg-type]


def test_format_matches_tracker_style():
    value = datetime(2021, 2, 22, 18, 35, 50, 157999, tzinfo=UTC)
    assert format_tracker_datetime(value) == "2021-02-22T18:35:50.157+0000"


def test_format_in_moscow_time_round_trips():
    value = datetime(2021, 2, 22, 18, 35, 50, 157000, tzinfo=UTC)
    text = format_tracker_datetime(value, timezone(timedelta(hours=3)))
    assert text == "2021-02-22T21:35:50.157+0300"
    assert parse_tracker_datetime(text) == value


def test_query_datetime_is_floored_to_the_minute():
    value = datetime(2025, 1, 1, 10, 7, 59, 999000, tzinfo=UTC)
    assert format_query_datetime(value) == "2025-01-01 10:07:00"


def test_query_datetime_converts_aware_values_to_utc():
    value = datetime(2025, 1, 1, 13, 7, tzinfo=timezone(timedelta(hours=3)))
    assert format_query_datetime(value) == "2025-01-01 10:07:00"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        format_query_datetime(datetime(2025, 1, 1))


def test_window_starts_at_mark_minus_overlap_floored():
    mark = datetime(2025, 1, 1, 10, 7, 30, tzinfo=UTC)
    assert window_start(mark, timedelta(minutes=10)) == datetime(2025, 1, 1, 9, 57, tzinfo=UTC)


def test_incremental_query_has_the_spec_format():
    mark = datetime(2025, 1, 1, 10, 10, 45, tzinfo=UTC)
    assert incremental_query("Queue: CPO", mark, timedelta(minutes=10)) == (
        'Queue: CPO AND Updated: >= "2025-01-01 10:00:00" "Sort by": Updated ASC'
    )


def test_incremental_query_without_mark_is_the_base_query():
    assert incremental_query("Queue: CPO", None) == "Queue: CPO"


def test_incremental_query_with_empty_base_is_just_the_window():
    mark = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    assert incremental_query("", mark, timedelta(0)) == (
        'Updated: >= "2025-01-01 10:00:00" "Sort by": Updated ASC'
    )


def test_incremental_query_parenthesises_a_base_with_or():
    mark = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    assert incremental_query("Queue: CPO OR Queue: FULLSTACK", mark, timedelta(0)) == (
        '(Queue: CPO OR Queue: FULLSTACK) AND Updated: >= "2025-01-01 10:00:00" '
        '"Sort by": Updated ASC'
    )


def test_incremental_query_refuses_a_base_with_its_own_sort():
    with pytest.raises(ValueError, match="Sort by"):
        incremental_query('Queue: CPO "Sort by": Key ASC', datetime(2025, 1, 1, tzinfo=UTC))


def test_incremental_query_refuses_negative_overlap():
    with pytest.raises(ValueError, match="overlap"):
        incremental_query("Queue: CPO", datetime(2025, 1, 1, tzinfo=UTC), timedelta(minutes=-1))


def test_a_timestamp_out_of_python_range_after_its_offset_is_invalid_not_a_crash():
    with pytest.raises(InvalidTrackerDatetime):
        parse_tracker_datetime("0001-01-01T00:00:00.000+0300")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05.678+0000", datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
        ("2024-01-02T03:04:05.678+0300", datetime(2024, 1, 2, 0, 4, 5, 678000, tzinfo=UTC)),
        ("2024-01-02T03:04:05.678-0530", datetime(2024, 1, 2, 8, 34, 5, 678000, tzinfo=UTC)),
        ("2024-01-01T01:00:00.000+0200", datetime(2023, 12, 31, 23, 0, tzinfo=UTC)),
        ("2024-02-29T23:59:59.999-0000", datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)),
    ],
)
def test_the_canonical_shape_gives_the_same_instant_in_utc(text, expected):
    """Tracker's own shape takes the fast path; the result is the very UTC instant, with
    the `UTC` object itself as its zone."""
    parsed = parse_tracker_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2024-02-30T10:00:00.000+0000", "day is out of range"),
        ("2024-13-01T10:00:00.000+0000", "month must be in 1..12"),
        ("2024-01-01T24:00:00.000+0000", "hour must be in 0..23"),
        ("2024-01-01T10:00:00.000+2400", "offset out of range"),
        ("2024-01-01T10:00:00.000+0060", "offset out of range"),
        ("0001-01-01T00:00:00.000+0300", "out of range"),
    ],
)
def test_the_canonical_shape_with_impossible_values_is_refused_like_any_other(text, reason):
    with pytest.raises(InvalidTrackerDatetime, match=f"not a valid Tracker timestamp.*{reason}"):
        parse_tracker_datetime(text)
