"""Time in status by the window-function query, on hand-made histories written straight
into tracker_task_history (shapes a changelog rarely gives): every column exact, and
equal to `time_in_status.task_rows`, the Python definition.

as_of 2025-04-01 00:00 UTC; statuses A, B, C are not configured (block discovery).

T-1  A 01-01..01-03, B 01-03..01-03 00:01, A ..01-10, C open: A 2 + 6 = 8 (runs
     floored one by one), B 0, C current 81; A entered twice.
T-2  A 01-01..02-01, B 02-01..03-01 and no open stay: A 31, B 28 counted in days,
     current B with current_days 0.
T-3  A 01-01..03-01, B 03-01..05-01 (ends after as_of: open): A 59, B current 31.
T-4  A 01-01..01-05, A 01-05..01-20, A open from 01-20: the closed run A 19 (one run),
     current A 71, one entry.
T-5  A 01-01..01-02, then B and C both starting 01-02 (B first by id): A 1, B 0, C 89.
T-6  A 01-01..05-01, B from 05-01 (after as_of, invisible): A current 90, days 0.
T-7  A 01-01..06-01 overlapping B from 03-01: A's end clipped to as_of, A 90, B 31.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.time_in_status import build_time_in_status
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets_tests.reports.fixture_ten import d
from radiator_assets_tests.reports.seed import add_task
from radiator_assets_tests.reports.test_emulator_org import (
    python_time_in_status,
    stored_time_in_status,
)

AS_OF = datetime(2025, 4, 1, tzinfo=UTC)
M = datetime(2025, 1, 3, 0, 1, tzinfo=UTC)
HISTORIES: dict[str, list[tuple[str, datetime, datetime | None]]] = {
    "T-1": [
        ("A", d("01-01"), d("01-03")),
        ("B", d("01-03"), M),
        ("A", M, d("01-10")),
        ("C", d("01-10"), None),
    ],
    "T-2": [("A", d("01-01"), d("02-01")), ("B", d("02-01"), d("03-01"))],
    "T-3": [("A", d("01-01"), d("03-01")), ("B", d("03-01"), d("05-01"))],
    "T-4": [("A", d("01-01"), d("01-05")), ("A", d("01-05"), d("01-20")), ("A", d("01-20"), None)],
    "T-5": [("A", d("01-01"), d("01-02")), ("B", d("01-02"), d("01-02")), ("C", d("01-02"), None)],
    "T-6": [("A", d("01-01"), d("05-01")), ("B", d("05-01"), None)],
    "T-7": [("A", d("01-01"), d("06-01")), ("B", d("03-01"), None)],
}
#: (task, status) -> (days, current_days, entries, is_current, current_status, last_change)
EXPECTED = {
    ("T-1", "A"): (8, 0, 2, False, "C", d("01-10")),
    ("T-1", "B"): (0, 0, 1, False, "C", d("01-10")),
    ("T-1", "C"): (0, 81, 1, True, "C", d("01-10")),
    ("T-2", "A"): (31, 0, 1, False, "B", d("02-01")),
    ("T-2", "B"): (28, 0, 1, True, "B", d("02-01")),
    ("T-3", "A"): (59, 0, 1, False, "B", d("03-01")),
    ("T-3", "B"): (0, 31, 1, True, "B", d("03-01")),
    ("T-4", "A"): (19, 71, 1, True, "A", d("01-20")),
    ("T-5", "A"): (1, 0, 1, False, "C", d("01-02")),
    ("T-5", "B"): (0, 0, 1, False, "C", d("01-02")),
    ("T-5", "C"): (0, 89, 1, True, "C", d("01-02")),
    ("T-6", "A"): (0, 90, 1, True, "A", d("01-01")),
    ("T-7", "A"): (90, 0, 1, False, "B", d("03-01")),
    ("T-7", "B"): (0, 31, 1, True, "B", d("03-01")),
}


@pytest.fixture(scope="module")
def odd(module_database: Callable[[], Engine]) -> Engine:
    engine = module_database()
    for key, stays in HISTORIES.items():
        task_id = add_task(engine, key, stays[0][1], initial=stays[0][0], queue="T")
        with unit_of_work(engine) as conn:
            for status, start, end in stays:  # in order: ids follow the list
                conn.execute(
                    sa.text(
                        "INSERT INTO tracker_task_history (task_id, tracker_id, status, "
                        "start_date, end_date) VALUES (:t, :tid, :s, :start, :end)"
                    ),
                    {"t": task_id, "tid": f"id-{key}", "s": status, "start": start, "end": end},
                )
    build_time_in_status(engine, ReportInputs.of(MetricsConfig.default(), AS_OF))
    return engine


def test_every_column_is_exact(odd: Engine):
    got = stored_time_in_status(odd)
    assert {key: row[4:] for key, row in got.items()} == EXPECTED
    assert {row[2] for row in got.values()} == {"T"}
    assert {row[3] for row in got.values()} == {"discovery"}


def test_the_query_equals_the_python_definition(odd: Engine):
    inputs = ReportInputs.of(MetricsConfig.default(), AS_OF)
    assert stored_time_in_status(odd) == python_time_in_status(odd, inputs)


def test_preview_and_counts(odd: Engine):
    result = build_time_in_status(odd, ReportInputs.of(MetricsConfig.default(), AS_OF))
    assert (result.rows, result.extra["tasks"]) == (14, 7)
    assert [(r["task_key"], r["status"]) for r in result.preview[:3]] == [
        ("T-4", "A"),
        ("T-6", "A"),
        ("T-7", "A"),
    ]
