"""as_of: everything after it is invisible, so a report as of a past date is the report
that would have been built on that date."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.storage.report_models import REPORT_TABLES
from radiator_assets_tests.reports import fixture_ten
from radiator_assets_tests.reports.conftest import build_all, by_key


def table_contents(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            name: sorted(conn.execute(sa.select(table)).all(), key=lambda r: tuple(map(str, r)))
            for name, table in REPORT_TABLES.items()
        }


def test_reports_as_of_a_past_date_equal_reports_built_on_that_date(
    module_database: Callable[[], Engine],
):
    today = module_database()
    fixture_ten.seed(today)
    build_all(today, fixture_ten.config(), fixture_ten.AS_OF)

    back_then = module_database()
    fixture_ten.seed(back_then, until=fixture_ten.AS_OF)
    build_all(back_then, fixture_ten.config(), fixture_ten.AS_OF)

    expected = table_contents(back_then)
    assert sum(len(v) for v in expected.values()) > 100
    assert table_contents(today) == expected


def test_a_later_as_of_sees_the_completion_after_the_earlier_one(
    module_database: Callable[[], Engine],
):
    engine = module_database()
    fixture_ten.seed(engine)
    build_all(engine, fixture_ten.config(), fixture_ten.LATER)
    row = by_key(engine, "report_ttm_details")["CPO-7"]
    assert (row.finished, row.completed, row.period) == (True, fixture_ten.d("04-10"), "Q2 2025")
    assert (row.ttm, row.devlt) == (31, 26)


def test_rebuilding_with_an_earlier_as_of_replaces_the_later_rows(
    module_database: Callable[[], Engine], ten: Engine
):
    engine = module_database()
    fixture_ten.seed(engine)
    build_all(engine, fixture_ten.config(), fixture_ten.LATER)
    build_all(engine, fixture_ten.config(), fixture_ten.AS_OF)
    assert table_contents(engine) == table_contents(ten)
