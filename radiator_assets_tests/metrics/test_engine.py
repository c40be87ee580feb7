"""Per-task metrics: every worked example of the spec, plus the rules around them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.metrics.engine import (
    compute_task_metrics,
    linked_implementation_tasks,
    sum_testing_returns,
    time_in_status,
)
from radiator_assets.metrics.engine import testing_returns as returns_of
from radiator_assets.metrics.engine import testing_returns_for as role_returns_of
from radiator_assets.metrics.stays import Stay
from radiator_assets_tests.metrics.util import dt, history

CONFIG = MetricsConfig.default()
LATER = dt("2025-12-01")

BACKLOG = "Discovery backlog"
READY = "Готова к разработке"
IN_DEV = "МП / В работе"
EXT_TEST = "МП / Внешний тест"
PAUSE = "Приостановлено"
DONE_IT = "Выполнено с ИТ"
CANCELLED = "Отменено"


def metrics(stays, *, created=None, as_of=LATER, config=CONFIG):
    return compute_task_metrics(
        stays, created=created or stays[0].start, config=config, as_of=as_of
    )


# --------------------------------------------------------------------------- completion


def test_completion_is_the_last_done_after_a_reopen():
    stays = history(
        ("Открыт", "01-01"), ("Done", "01-10"), ("В работе", "01-15"), ("Done", "01-20")
    )

    assert metrics(stays).completed == dt("01-20")


def test_completion_is_the_last_done_of_a_done_pause_done_run():
    stays = history(("Открыт", "01-01"), ("Done", "01-10"), (PAUSE, "01-12"), ("Done", "01-20"))

    assert metrics(stays).completed == dt("01-20")


def test_completion_ignores_a_two_minute_reopen_before_the_end():
    stays = history(
        ("Открыт", "01-01"),
        ("Done", "01-10"),
        ("В работе", "01-15 10:00"),
        ("Done", "01-15 10:02"),
    )

    assert metrics(stays).completed == dt("01-10")


def test_two_minute_done_between_work_stays_is_not_a_completion():
    stays = history(
        (IN_DEV, "01-05"),
        (DONE_IT, "01-10 12:00"),
        (IN_DEV, "01-10 12:02"),
    )

    m = metrics(stays)

    assert (m.finished, m.completed, m.done_reached_at) == (False, None, None)


def test_ten_minute_done_between_work_stays_is_a_real_done_but_the_task_is_reopened():
    stays = history(
        (IN_DEV, "01-05"),
        (DONE_IT, "01-10 12:00"),
        (IN_DEV, "01-10 12:10"),
    )

    m = metrics(stays)

    assert (m.finished, m.completed, m.done_reached_at) == (False, None, dt("01-10 12:00"))


def test_ten_minute_done_is_the_completion_when_only_a_misclick_follows_it():
    stays = history(
        (IN_DEV, "01-05"),
        (DONE_IT, "01-10 12:00"),
        (IN_DEV, "01-10 12:10"),
        (DONE_IT, "01-10 12:12"),
    )

    assert metrics(stays).completed == dt("01-10 12:00")


def test_two_minute_done_followed_by_a_misclick_is_not_the_completion():
    stays = history(
        (IN_DEV, "01-05"),
        (DONE_IT, "01-10 12:00"),
        (IN_DEV, "01-10 12:02"),
        (DONE_IT, "01-10 12:04"),
    )

    assert metrics(stays).completed == dt("01-10 12:04")


def test_reopened_task_is_unfinished_and_has_no_ttm():
    stays = history(("Открыт", "01-01"), ("Done", "01-10"), ("В работе", "01-15"))

    m = metrics(stays, as_of=dt("01-20"))

    assert (m.finished, m.ttm, m.ttm_unfinished) == (False, None, 19)


def test_cancelled_task_is_excluded_from_ttm_and_ttd():
    stays = history(("Открыт", "01-01"), (READY, "01-03"), (CANCELLED, "01-10"))

    m = metrics(stays)

    assert (m.cancelled, m.ttm, m.ttm_unfinished, m.ttd) == (True, None, None, None)


def test_cancelled_then_paused_task_is_still_cancelled():
    stays = history(("Открыт", "01-01"), (CANCELLED, "01-10"), (PAUSE, "01-11"))

    assert metrics(stays).cancelled is True


# --------------------------------------------------------------------------- pause


def test_pause_total_of_two_two_day_pauses_is_4():
    stays = history(
        ("Открыт", "01-01"),
        (PAUSE, "01-03"),
        (IN_DEV, "01-05"),
        (PAUSE, "01-07"),
        (IN_DEV, "01-09"),
    )

    assert metrics(stays).pause == 4


def test_pause_total_counts_an_open_pause_up_to_as_of():
    stays = history(("Открыт", "01-01"), (PAUSE, "01-03"))

    assert metrics(stays, as_of=dt("01-10 12:00")).pause == 7


# --------------------------------------------------------------------------- TTM


def test_ttm_spec_example_is_8():
    stays = history(
        ("New", "01-01"),
        ("In Progress", "01-03"),
        (PAUSE, "01-05"),
        ("In Progress", "01-08"),
        (READY, "01-10"),
        (PAUSE, "01-12"),
        ("Done", "01-15"),
    )

    assert metrics(stays).ttm == 8


def test_ttm_from_2025_01_01_to_2025_02_01_with_two_three_day_pauses_is_25():
    stays = history(
        ("Открыт", "01-01"),
        (PAUSE, "01-05"),
        (IN_DEV, "01-08"),
        (PAUSE, "01-20"),
        (IN_DEV, "01-23"),
        ("Выполнено", "02-01"),
    )

    m = metrics(stays)

    assert (m.ttm, m.ttm_pause) == (25, 6)


def test_ttm_unfinished_is_measured_to_as_of_minus_pause():
    stays = history(("Открыт", "01-01"), (PAUSE, "01-03"), (IN_DEV, "01-05"))

    assert metrics(stays, as_of=dt("01-11")).ttm_unfinished == 8


def test_ttm_does_not_count_a_pause_after_completion():
    stays = history(("Открыт", "01-01"), ("Выполнено", "01-11"), (PAUSE, "01-12"))

    m = metrics(stays)

    assert (m.finished, m.ttm) == (True, 10)


# --------------------------------------------------------------------------- TTD


def test_ttd_spec_example_is_6_with_pause_3():
    stays = history(
        ("New", "01-01"),
        ("In Progress", "01-03"),
        (PAUSE, "01-05"),
        ("In Progress", "01-08"),
        (READY, "01-10"),
    )

    m = metrics(stays)

    assert (m.ttd, m.ttd_pause) == (6, 3)


def test_ttd_is_0_when_ready_for_development_one_hour_after_creation():
    stays = history(("Открыт", "01-01 09:00"), (READY, "01-01 10:00"))

    assert metrics(stays).ttd == 0


def test_ttd_uses_the_first_entry_into_ready_for_development():
    stays = history(("Открыт", "01-01"), (READY, "01-04"), (BACKLOG, "01-06"), (READY, "01-09"))

    assert metrics(stays).ttd == 3


def test_ttd_is_empty_before_ready_for_development_is_reached_by_as_of():
    stays = history(("Открыт", "01-01"), (READY, "01-10"))

    assert metrics(stays, as_of=dt("01-09")).ttd is None


# --------------------------------------------------------------------------- Tail


def test_tail_spec_example_is_7():
    stays = history(
        ("Открыт", "01-01"),
        (EXT_TEST, "01-03"),
        ("Review", "01-05"),
        (PAUSE, "01-07"),
        ("Review", "01-09"),
        ("Done", "01-12"),
    )

    assert metrics(stays).tail == 7


def test_tail_ignores_a_two_minute_external_test_after_a_real_one():
    stays = history(
        ("Открыт", "01-01"),
        (EXT_TEST, "01-05"),
        ("Review", "01-10"),
        (EXT_TEST, "01-15 10:00"),
        ("Review", "01-15 10:02"),
        ("Done", "01-20"),
    )

    assert metrics(stays).tail == 15


def test_tail_of_an_open_external_test_is_measured_to_as_of():
    stays = history(("Открыт", "01-01"), (EXT_TEST, "01-05"))

    assert metrics(stays, as_of=dt("01-12 23:00")).tail == 7


def test_tail_is_empty_without_done_after_a_closed_external_test():
    stays = history(("Открыт", "01-01"), (EXT_TEST, "01-05"), ("Review", "01-10"))

    assert metrics(stays).tail is None


# --------------------------------------------------------------------------- DevLT


def test_devlt_from_development_to_external_test_with_a_pause_between_is_10():
    stays = history(
        ("Открыт", "01-01"),
        (IN_DEV, "01-05"),
        (PAUSE, "01-08"),
        (IN_DEV, "01-10"),
        (EXT_TEST, "01-15"),
    )

    assert metrics(stays).devlt == 10


def test_devlt_after_a_two_minute_external_test_ends_at_ready_for_release_is_10():
    stays = history(
        ("Открыт", "01-01"),
        (IN_DEV, "01-05"),
        (EXT_TEST, "01-15 00:00"),
        ("Готово к релизу", "01-15 00:02"),
    )

    assert metrics(stays).devlt == 10


def test_devlt_of_development_open_since_01_05_as_of_01_20_is_15():
    stays = history(("Открыт", "01-01"), (IN_DEV, "01-05"))

    assert metrics(stays, as_of=dt("01-20")).devlt == 15


def test_devlt_uses_the_last_valid_external_test():
    stays = history(
        ("Открыт", "01-01"),
        (IN_DEV, "01-05"),
        (EXT_TEST, "01-10"),
        (IN_DEV, "01-12"),
        (EXT_TEST, "01-18"),
        ("Выполнено", "01-25"),
    )

    assert metrics(stays).devlt == 13


def test_devlt_fallback_skips_cancelled_statuses():
    stays = history(("Открыт", "01-01"), (IN_DEV, "01-05"), (CANCELLED, "01-09"))

    assert metrics(stays).devlt is None


def test_devlt_is_empty_without_a_development_stay():
    stays = history(("Открыт", "01-01"), (EXT_TEST, "01-05"), ("Выполнено", "01-09"))

    assert metrics(stays).devlt is None


# --------------------------------------------------------------------------- time in status


def test_time_in_status_spec_example_discovery_backlog_is_6():
    stays = history(
        (BACKLOG, "01-03"),
        (PAUSE, "01-06"),
        (BACKLOG, "01-09"),
        ("В работе", "01-12"),
    )

    assert time_in_status(stays, LATER)[BACKLOG] == 6


def test_time_in_status_counts_an_open_stay_up_to_as_of():
    stays = history(("Открыт", "01-01"), (BACKLOG, "01-03 12:00"))

    assert time_in_status(stays, dt("01-06"))[BACKLOG] == 2


def test_time_in_status_does_not_filter_short_stays():
    stays = history(("Открыт", "01-01"), ("Review", "01-02"), ("Done", "01-02 00:01"))

    assert time_in_status(stays, LATER)["Review"] == 0


def test_task_metrics_time_in_status_uses_the_raw_history():
    stays = history(
        (BACKLOG, "01-01 00:00"),
        ("Review", "01-01 00:01"),
        (BACKLOG, "01-01 00:02"),
        (READY, "01-05"),
    )

    m = metrics(stays)

    assert (m.time_in_status["Review"], m.time_in_status[BACKLOG]) == (0, 3)


def test_discovery_backlog_days_use_the_filtered_history():
    stays = history(
        (BACKLOG, "01-01 00:00"),
        ("Review", "01-01 00:01"),
        (BACKLOG, "01-01 00:02"),
        (READY, "01-05"),
    )

    assert metrics(stays).discovery_backlog_days == 4


def test_ready_for_dev_days_count_an_open_stay_up_to_as_of():
    stays = history(("Открыт", "01-01"), (READY, "01-03"))

    assert metrics(stays, as_of=dt("01-08")).ready_for_dev_days == 5


# --------------------------------------------------------------------------- testing returns


def test_testing_returns_entering_testing_three_times_is_2():
    stays = history(
        ("Open", "01-01"),
        ("Testing", "01-02"),
        ("In Progress", "01-03"),
        ("Testing", "01-04"),
        ("In Progress", "01-05"),
        ("Testing", "01-06"),
        ("Done", "01-07"),
    )

    assert returns_of(stays)["Testing"] == 2


def test_testing_returns_count_short_stays():
    stays = history(
        ("Testing", "01-01"),
        ("In Progress", "01-02 00:00"),
        ("Testing", "01-02 00:01"),
    )

    assert returns_of(stays)["Testing"] == 1


def test_testing_returns_for_config_reports_every_role_status():
    stays = history(
        ("Open", "01-01"), ("testing", "01-02"), ("Review", "01-03"), ("TESTING", "01-04")
    )

    assert role_returns_of(stays, CONFIG) == {"Testing": 1, "Внешний тест": 0}


def test_testing_returns_ignore_entries_after_as_of():
    stays = history(("Testing", "01-01"), ("Review", "01-02"), ("Testing", "01-04"))

    assert returns_of(stays, as_of=dt("01-03"))["Testing"] == 0


def test_sum_testing_returns_adds_returns_of_linked_tasks():
    assert sum_testing_returns([{"Testing": 2}, {"Testing": 1, "Внешний тест": 1}]) == {
        "Testing": 3,
        "Внешний тест": 1,
    }


def test_linked_implementation_tasks_follow_relates_both_ways_and_subtasks_to_depth_6():
    queues = {"CPO-1": "CPO", "FS-1": "FULLSTACK", "FS-2": "FULLSTACK", "CPO-2": "CPO"}
    chain = {f"S{i}": [f"S{i + 1}"] for i in range(1, 8)}
    found = linked_implementation_tasks(
        "CPO-1",
        relates=[("CPO-1", "FS-1"), ("FS-2", "CPO-1"), ("CPO-1", "CPO-2")],
        children={"FS-1": ["S1"], **chain},
        queue_of=queues.get,
        implementation_queue="FULLSTACK",
    )

    assert found == {"FS-1", "FS-2", "S1", "S2", "S3", "S4", "S5", "S6"}


# --------------------------------------------------------------------------- periods, flags, dates


def test_period_includes_an_event_at_10_00_on_its_last_day():
    stays = history(("Открыт", "2025-03-01T00:00"), ("Выполнено", "2025-03-30T10:00"))

    assert metrics(stays).period == "Q1 2025"


def test_period_starts_at_midnight_of_its_first_day():
    stays = history(("Открыт", "2025-03-01T00:00"), ("Выполнено", "2025-03-31T00:00"))

    assert metrics(stays).period == "Q2 2025"


def test_ttd_period_comes_from_the_first_ready_for_development_date():
    stays = history(
        ("Открыт", "2025-03-01"), (READY, "2025-03-30T23:59"), ("Выполнено", "2025-05-01")
    )

    m = metrics(stays)

    assert (m.ttd_period, m.period) == ("Q1 2025", "Q2 2025")


def test_went_through_development_needs_a_stay_of_at_least_min_stay():
    stays = history(("Открыт", "01-01"), (IN_DEV, "01-02 00:00"), ("Review", "01-02 00:02"))

    assert metrics(stays).went_through_development is False


def test_went_through_development_counts_an_open_stay_up_to_as_of():
    stays = history(("Открыт", "01-01"), (IN_DEV, "01-02 00:00"))

    assert metrics(stays, as_of=dt("01-02 00:06")).went_through_development is True


def test_work_started_is_the_end_of_the_last_discovery_backlog_stay():
    stays = history(
        (BACKLOG, "01-01"),
        (READY, "01-03"),
        (BACKLOG, "01-05"),
        (IN_DEV, "01-07"),
    )

    assert metrics(stays).work_started == dt("01-07")


def test_current_status_and_block_are_as_of():
    stays = history(("Открыт", "01-01"), (IN_DEV, "01-05"), ("Выполнено", "01-10"))

    m = metrics(stays, as_of=dt("01-07"))

    assert (m.current_status, m.status_block) == (IN_DEV, "delivery")


def test_unknown_statuses_are_listed_and_count_as_discovery():
    stays = history(("Открыт", "01-01"), ("Mystery", "01-02"))

    m = metrics(stays)

    assert (m.unknown_statuses, m.status_block) == (("Mystery",), "discovery")


def test_as_of_hides_a_later_completion():
    stays = history(("Открыт", "01-01"), ("Выполнено", "01-10"))

    m = metrics(stays, as_of=dt("01-05"))

    assert (m.finished, m.ttm, m.ttm_unfinished) == (False, None, 4)


def test_status_names_match_case_insensitively():
    stays = history(("открыт", "01-01"), ("выполнено", "01-10"))

    assert metrics(stays).ttm == 9


def test_compute_task_metrics_rejects_naive_as_of():
    stays = history(("Открыт", "01-01"))

    with pytest.raises(ValueError, match="timezone-aware"):
        metrics(stays, as_of=dt("01-05").replace(tzinfo=None))


def test_task_created_after_as_of_has_no_metrics():
    stays = history(("Открыт", "01-10"))

    m = metrics(stays, as_of=dt("01-05"))

    assert (m.current_status, m.ttm_unfinished, m.pause) == (None, None, 0)


def test_min_stay_zero_keeps_a_two_minute_done():
    config = CONFIG.model_copy(update={"min_stay_seconds": 0})
    stays = history(
        (IN_DEV, "01-05"),
        (DONE_IT, "01-10 12:00"),
        (IN_DEV, "01-10 12:02"),
    )

    assert metrics(stays, config=config).done_reached_at == dt("01-10 12:00")


def test_stays_given_out_of_order_are_sorted():
    stays = history(("Открыт", "01-01"), (IN_DEV, "01-03"), ("Выполнено", "01-08"))

    assert metrics(list(reversed(stays)), created=dt("01-01")).ttm == 7


def test_explicit_created_is_the_ttm_start():
    stays = [Stay("Открыт", dt("01-03"), dt("01-08")), Stay("Выполнено", dt("01-08"))]

    assert metrics(stays, created=dt("01-01") - timedelta(hours=1)).ttm == 7
