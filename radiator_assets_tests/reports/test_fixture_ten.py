"""The report tables of the ten hand-checked tasks (see fixture_ten.py for the arithmetic)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from radiator_assets.metrics.aggregate import p85
from radiator_assets_tests.reports.conftest import by_key, rows
from radiator_assets_tests.reports.fixture_ten import d


@pytest.fixture(scope="module")
def details(ten: Engine) -> dict:
    return by_key(ten, "report_ttm_details")


def metric_values(row) -> dict:
    return {
        k: getattr(row, k)
        for k in (
            "ttm",
            "pause",
            "tail",
            "devlt",
            "ttd",
            "ttd_pause",
            "discovery_backlog_days",
            "ready_for_dev_days",
        )
    }


# --------------------------------------------------------------------------- details


def test_details_hold_finished_tasks_and_unfinished_past_discovery(details):
    # CPO-6 cancelled, CPO-8 in discovery, CPO-9 after as_of, CPO-10 deleted
    assert sorted(details) == ["CPO-1", "CPO-2", "CPO-3", "CPO-4", "CPO-5", "CPO-7"]


def test_details_subtract_pauses_before_and_after_ready_for_development(details):
    row = details["CPO-1"]
    assert metric_values(row) == {
        "ttm": 20,
        "pause": 4,
        "tail": 5,
        "devlt": 10,
        "ttd": 5,
        "ttd_pause": 2,
        "discovery_backlog_days": 3,
        "ready_for_dev_days": 2,
    }
    assert (row.finished, row.period, row.ttd_period) == (True, "Q1 2025", "Q1 2025")
    assert (row.created, row.work_started, row.completed) == (d("01-01"), d("01-08"), d("01-25"))
    assert (row.current_status, row.status_block) == ("Выполнено", "done")
    assert row.went_through_development is True


def test_reopened_task_is_unfinished_with_ttm_measured_to_as_of(details):
    row = details["CPO-2"]
    assert (row.finished, row.completed, row.period) == (False, None, None)
    assert (row.ttm, row.ttd, row.tail, row.devlt) == (89, 3, None, 13)
    assert (row.current_status, row.status_block) == ("МП / В работе", "delivery")
    assert row.work_started is None


def test_two_minute_done_does_not_complete_the_task(details):
    row = details["CPO-3"]
    assert row.completed == d("03-10")
    assert (row.ttm, row.ttd, row.tail, row.devlt, row.discovery_backlog_days) == (37, 9, 9, 17, 7)


def test_moved_task_keeps_its_metrics_and_counts_linked_returns_once(details):
    row = details["CPO-4"]
    assert (row.ttm, row.pause, row.ttd, row.tail, row.devlt) == (38, 3, 10, 9, 20)
    assert (row.returns_testing, row.returns_external_test, row.returns_total) == (4, 1, 5)
    assert (row.current_status, row.period) == ("Выполнено с ИТ", "Q1 2025")


def test_tasks_without_linked_implementation_tasks_have_no_returns(details):
    assert {(r.returns_testing, r.returns_total) for k, r in details.items() if k != "CPO-4"} == {
        (0, 0)
    }


def test_open_external_test_stay_is_measured_to_as_of(details):
    row = details["CPO-5"]
    assert (row.tail, row.devlt, row.ttm, row.ttd, row.finished) == (12, 15, 31, 1, False)
    assert row.status_block == "delivery"


def test_completion_after_as_of_is_invisible(details):
    row = details["CPO-7"]
    assert (row.finished, row.completed, row.ttm, row.devlt) == (False, None, 22, 17)
    assert row.current_status == "МП / В работе"


def test_team_and_lead_come_from_the_author(details):
    assert {k: (r.author, r.team, r.lead) for k, r in details.items()} == {
        "CPO-1": ("Author 1", "Team Alpha", "Lead A"),
        "CPO-2": ("Author 3", "Team Beta", "Lead B"),
        "CPO-3": ("Author 2", "Team Alpha", "Lead A"),
        "CPO-4": ("Author 5", "Team Gamma", "Lead C"),
        "CPO-5": ("Author 4", "Team Beta", "Lead B"),
        "CPO-7": ("Author 2", "Team Alpha", "Lead A"),
    }


# --------------------------------------------------------------------------- summary


def test_summary_of_a_team_counts_finished_tasks_only(ten):
    (row,) = rows(
        ten,
        "SELECT * FROM report_ttm_summary WHERE dimension = 'team' AND name = 'Team Alpha'",
    )
    assert (row.period, row.period_start, row.tasks) == ("Q1 2025", date(2024, 12, 30), 2)
    assert (row.ttm_count, row.ttm_mean, row.ttm_median, row.ttm_max) == (2, 28.5, 28.5, 37)
    assert row.ttm_p85 == pytest.approx(34.45)  # 20 + 0.85 * (37 - 20)
    assert (row.ttd_mean, row.tail_max, row.devlt_median, row.pause_max) == (7.0, 9, 13.5, 4)


def test_summary_counts_values_over_the_thresholds(ten):
    (row,) = rows(
        ten,
        "SELECT * FROM report_ttm_summary WHERE dimension = 'team' AND name = 'Team Alpha'",
    )
    # thresholds ttm 30, ttd 8, tail 6, devlt 15; CPO-1 (20, 5, 5, 10), CPO-3 (37, 9, 9, 17)
    assert (row.ttm_over, row.ttd_over, row.tail_over, row.devlt_over) == (1, 1, 1, 1)


def test_summary_has_rows_per_lead_and_none_for_teams_without_finished_tasks(ten):
    keys = {(r.dimension, r.name, r.period) for r in rows(ten, "SELECT * FROM report_ttm_summary")}
    assert keys == {
        ("team", "Team Alpha", "Q1 2025"),
        ("team", "Team Gamma", "Q1 2025"),
        ("lead", "Lead A", "Q1 2025"),
        ("lead", "Lead C", "Q1 2025"),
    }


# --------------------------------------------------------------------------- time in status


def test_time_in_status_uses_the_raw_history(ten):
    got = {
        r.status: (r.days, r.current_days, r.entries, r.is_current)
        for r in rows(ten, "SELECT * FROM report_time_in_status WHERE task_key = 'CPO-3'")
    }
    assert got == {
        "Открыт": (2, 0, 1, False),
        "Discovery backlog": (7, 0, 1, False),
        "Готова к разработке": (2, 0, 1, False),
        "МП / В работе": (8 + 8, 0, 2, False),
        "МП / Внешний тест": (9, 0, 1, False),
        "Выполнено": (0, 22, 2, True),
    }


def test_time_in_status_covers_every_queue_and_names_the_last_change(ten):
    got = {
        r.task_key: (r.current_status, r.last_change)
        for r in rows(ten, "SELECT * FROM report_time_in_status WHERE is_current")
    }
    assert set(got) == {f"CPO-{i}" for i in range(1, 9)} | {
        "FULLSTACK-1",
        "FULLSTACK-2",
        "FULLSTACK-3",
        "FULLSTACK-4",
        "OTHER-1",
    }
    assert got["CPO-7"] == ("МП / В работе", d("03-15"))


# --------------------------------------------------------------------------- testing returns


def test_testing_returns_per_implementation_task(ten):
    got = by_key(ten, "report_testing_returns", key="key")
    fs1 = got["FULLSTACK-1"]
    assert (
        fs1.returns_in_progress,
        fs1.returns_review,
        fs1.returns_testing,
        fs1.returns_external_test,
        fs1.returns_done,
        fs1.returns_total,
    ) == (2, 0, 2, 0, 0, 4)
    assert (got["FULLSTACK-3"].returns_testing, got["FULLSTACK-3"].returns_review) == (1, 0)
    assert "OTHER-1" not in got and "CPO-1" not in got


def test_testing_returns_per_epic_sum_its_tasks(ten):
    (epic,) = rows(ten, "SELECT * FROM report_testing_returns WHERE scope = 'epic'")
    assert (epic.key, epic.tasks, epic.returns_in_progress) == ("FULLSTACK-100", 2, 2)
    assert (epic.returns_testing, epic.returns_external_test, epic.returns_total) == (3, 1, 6)


# --------------------------------------------------------------------------- activity


def test_status_activity_compares_the_last_full_week_with_the_one_before(ten):
    got = {
        (r.dimension, r.name): (
            r.changes_last_week,
            r.tasks_last_week,
            r.changes_prev_week,
            r.tasks_prev_week,
            r.changes_trend,
            r.open_discovery,
            r.open_delivery,
        )
        for r in rows(ten, "SELECT * FROM report_status_activity")
    }
    # weeks 03-24..03-30 and 03-17..03-23; CPO-8 moved on 03-21 and 03-25, CPO-5 on 03-20
    assert got == {
        ("author", "Author 2"): (0, 0, 0, 0, 0, 0, 1),
        ("author", "Author 3"): (1, 1, 1, 1, 0, 1, 1),
        ("author", "Author 4"): (0, 0, 1, 1, -1, 0, 1),
        ("team", "Team Alpha"): (0, 0, 0, 0, 0, 0, 1),
        ("team", "Team Beta"): (1, 1, 2, 2, -1, 1, 2),
    }
    assert {r.week_start for r in rows(ten, "SELECT * FROM report_status_activity")} == {
        date(2025, 3, 24)
    }


# --------------------------------------------------------------------------- aging


def test_aging_wip_compares_age_in_status_with_the_team_p85(ten):
    got = {
        r.task_key: (
            r.current_status,
            r.age_in_status,
            r.team_status_p85,
            r.over_p85,
            r.age_since_work_started,
        )
        for r in rows(ten, "SELECT * FROM report_aging_wip")
    }
    assert got == {
        "CPO-2": ("МП / В работе", 59, pytest.approx(p85([13, 15])), True, None),
        "CPO-5": ("МП / Внешний тест", 12, None, None, None),
        "CPO-7": ("МП / В работе", 17, pytest.approx(p85([3, 5, 8, 8])), True, None),
        "CPO-8": ("В работе", 7, None, None, 7),
    }


# --------------------------------------------------------------------------- flow


def flow(ten: Engine, team: str, week: date):
    (row,) = rows(
        ten,
        "SELECT * FROM report_flow_weekly WHERE team = :team AND week_start = :week",
        team=team,
        week=week,
    )
    return row


def test_flow_counts_tasks_per_block_at_the_end_of_the_week(ten):
    row = flow(ten, "Team Beta", date(2025, 3, 24))
    assert (row.backlog, row.discovery, row.delivery, row.done, row.paused) == (0, 1, 2, 0, 0)
    assert (row.wip, row.arrivals, row.throughput) == (3, 0, 0)


def test_flow_counts_arrivals_and_throughput_in_their_week(ten):
    assert flow(ten, "Team Beta", date(2025, 3, 17)).arrivals == 1  # CPO-8 on 03-20
    assert flow(ten, "Team Alpha", date(2025, 1, 20)).throughput == 1  # CPO-1 on 01-25
    # CPO-2 reached done on 01-20 but was reopened: no throughput for Team Beta
    assert flow(ten, "Team Beta", date(2025, 1, 20)).throughput == 0


def test_flow_last_week_is_a_snapshot_at_as_of(ten):
    row = flow(ten, "Team Alpha", date(2025, 3, 31))
    assert (row.done, row.cancelled, row.delivery, row.wip) == (2, 1, 1, 1)
    assert (row.cumulative_arrivals, row.cumulative_throughput) == (4, 2)
    weeks = [r.week_start for r in rows(ten, "SELECT DISTINCT week_start FROM report_flow_weekly")]
    assert (min(weeks), max(weeks)) == (date(2024, 12, 30), date(2025, 3, 31))
