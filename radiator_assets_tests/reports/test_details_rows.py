"""Rows of report_ttm_details (spec "Rows of the details report"): finished in a period, or
unfinished, not cancelled and entered ready-for-development by as_of.

Hand-made histories, as_of = 2025-04-01 00:00 UTC, all dates 2025. Configuration: the
fixture's, with "Готова к разработке" in the `discovery` block as in the predecessor's
status file (so no block tells that a task waiting there is past discovery):

CPO-21 waits in ready-for-development: Открыт 03-01, Discovery backlog 03-02, Приостановлено 03-05,
       Discovery backlog 03-08, Готова к разработке 03-10 (open). Unfinished; pause 3;
       TTD 9 - 3 = 6 (TTD pause 3); TTM to as_of 31 - 3 = 28; ready for dev 22 days;
       discovery backlog 3 + 2 = 5; work started 03-10; TTD period Q1 2025.
CPO-22 reached ready-for-development (03-03), then cancelled (03-05): no row.
CPO-23 never reached it: Discovery backlog 03-02, В работе 03-05 (open): no row.
CPO-24 went from Открыт straight to МП / В работе (03-03, open), skipping
       ready-for-development: TTD unknown, no row.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.product import build_product_reports
from radiator_assets.sync.history import build_history
from radiator_assets_tests.locked import locked
from radiator_assets_tests.reports.conftest import by_key
from radiator_assets_tests.reports.fixture_ten import (
    AS_OF,
    BACKLOG,
    CANCELLED,
    DEV,
    DISCOVERY_WORK,
    OPEN,
    PAUSE,
    RFD,
    config,
    d,
)
from radiator_assets_tests.reports.seed import add_task


def ready_for_development_in_discovery() -> MetricsConfig:
    base = config()
    statuses = tuple(
        s.model_copy(update={"block": "discovery"}) if s.name == RFD else s for s in base.statuses
    )
    return base.model_copy(update={"statuses": statuses})


@pytest.fixture(scope="module")
def details(module_database: Callable[[], Engine]) -> dict:
    engine = module_database()
    histories = {
        "CPO-21": [("03-02", BACKLOG), ("03-05", PAUSE), ("03-08", BACKLOG), ("03-10", RFD)],
        "CPO-22": [("03-03", RFD), ("03-05", CANCELLED)],
        "CPO-23": [("03-02", BACKLOG), ("03-05", DISCOVERY_WORK)],
        "CPO-24": [("03-03", DEV)],
    }
    for key, changes in histories.items():
        moments = [(d(when), status) for when, status in changes]
        add_task(engine, key, d("03-01"), moments, initial=OPEN, author="Author 1")
    locked(build_history, engine)
    build_product_reports(engine, ReportInputs.of(ready_for_development_in_discovery(), AS_OF))
    return by_key(engine, "report_ttm_details")


def test_only_the_task_waiting_in_ready_for_development_is_a_row(details):
    assert sorted(details) == ["CPO-21"]


def test_a_task_waiting_in_ready_for_development_is_unfinished_with_ttd_and_ttm_to_as_of(details):
    row = details["CPO-21"]
    assert (row.finished, row.period, row.completed) == (False, None, None)
    assert (row.ttd, row.ttd_pause, row.ttm, row.pause) == (6, 3, 28, 3)
    assert (row.tail, row.devlt, row.went_through_development) == (None, None, False)
    assert (row.discovery_backlog_days, row.ready_for_dev_days) == (5, 22)
    assert (row.work_started, row.ttd_period) == (d("03-10"), "Q1 2025")
    assert (row.current_status, row.status_block) == (RFD, "discovery")
    assert (row.team, row.lead) == ("Team Alpha", "Lead A")
