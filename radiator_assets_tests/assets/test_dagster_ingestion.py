"""The ingestion assets, checks, sensor and schedule, driven through Dagster's own APIs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from radiator_assets.automation.jobs import RANGE_END_TAG, RANGE_START_TAG
from radiator_assets.automation.schedules import tracker_reconcile_schedule
from radiator_assets.automation.sensors import tracker_changes_sensor
from radiator_assets.definitions import defs
from radiator_assets.emulator import TrackerEmulator
from radiator_assets.runner import run_sync
from radiator_assets_tests.assets.conftest import (
    count,
    history_start,
    record_first_sync,
    run_full_sync,
)


def _tick(
    instance: dg.DagsterInstance, resources: dict[str, dg.ConfigurableResource]
) -> dg.SensorResult | dg.SkipReason:
    record_first_sync(instance)
    context = dg.build_sensor_context(instance=instance, resources=resources)
    return tracker_changes_sensor(context)


def test_the_definitions_load_with_every_ingestion_asset_and_check() -> None:
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"tracker_issues", "tracker_changelog", "tracker_task_history"} <= keys
    checks = {c.name for c in defs.resolve_asset_graph().asset_check_keys}
    assert "history_has_no_duplicate_stays" in checks
    assert "changelog_has_no_duplicate_ids" in checks


def test_materializing_the_tracker_group_reports_rows_and_passes_checks(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    with dg.instance_for_test() as instance:
        outcome = run_sync(
            selection=["group:tracker"], since=history_start(tracker_env), instance=instance
        )

    assert outcome.success
    issues = outcome.metadata["tracker_issues"]
    assert issues["dagster/row_count"] == len(list(tracker_env.org.live()))
    assert issues["rows_inserted"] == issues["dagster/row_count"]
    assert issues["api_requests"] >= 1
    changelog = outcome.metadata["tracker_changelog"]
    assert changelog["rows_inserted"] == count(engine, "SELECT count(*) FROM tracker_changelog")
    history = outcome.metadata["tracker_task_history"]
    assert history["dagster/row_count"] == count(
        engine, "SELECT count(*) FROM tracker_task_history"
    )
    assert outcome.checks["history_has_no_duplicate_stays"] is True
    assert outcome.checks["history_is_continuous"] is True
    assert count(engine, "SELECT count(*) FROM tracker_sync_runs WHERE status = 'success'") == 3


def test_a_failing_blocking_check_stops_nothing_upstream_and_is_reported(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "ALTER TABLE tracker_task_history "
                "DROP CONSTRAINT uq_tracker_task_history_task_id_status_start_date"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO tracker_task_history (task_id, tracker_id, status, start_date) "
                "SELECT task_id, tracker_id, status, start_date FROM tracker_task_history LIMIT 1"
            )
        )
    with dg.instance_for_test() as instance:
        outcome = run_sync(selection=["group:tracker"], instance=instance)
    assert outcome.checks["history_has_no_duplicate_stays"] is False
    assert outcome.success is False


def test_a_sensor_tick_with_no_change_makes_one_request_and_starts_no_run(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    run_full_sync(engine)
    tracker_env.reset_requests()
    with dg.instance_for_test() as instance:
        result = _tick(instance, dagster_resources)

    assert isinstance(result, dg.SensorResult)
    assert not result.run_requests
    assert "nothing changed" in str(result.skip_reason)
    assert len(tracker_env.requests) == 1


def test_a_sensor_tick_with_changes_requests_one_run_of_the_current_month(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(days=2))
    tracker_env.add_changes(3, kind="status")
    with dg.instance_for_test() as instance:
        first = _tick(instance, dagster_resources)
        second = _tick(instance, dagster_resources)

    assert isinstance(first, dg.SensorResult) and isinstance(second, dg.SensorResult)
    (request,) = first.run_requests
    assert request.run_key == second.run_requests[0].run_key
    assert request.partition_key == datetime.now(UTC).date().replace(day=1).isoformat()
    assert RANGE_START_TAG not in request.tags
    # Run monitoring fails it after an hour (a dead code server must not hold the sensor).
    assert request.tags["dagster/max_runtime"] == "3600"


def test_the_sensor_cursor_moves_only_when_a_sync_has_committed(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(hours=1))
    tracker_env.add_changes(2)
    with dg.instance_for_test() as instance:
        before = _tick(instance, dagster_resources)
        run_full_sync(engine)
        after = _tick(instance, dagster_resources)
    assert isinstance(before, dg.SensorResult) and isinstance(after, dg.SensorResult)
    assert before.cursor < after.cursor
    assert not after.run_requests


def test_the_first_sensor_tick_requests_the_whole_history(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    with dg.instance_for_test() as instance:
        result = _tick(instance, dagster_resources)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    assert request.run_key.startswith("initial-sync:") and request.run_key.endswith(":0")
    assert request.tags[RANGE_START_TAG] == "2017-01-01"
    assert request.tags[RANGE_END_TAG] == datetime.now(UTC).date().replace(day=1).isoformat()
    assert "dagster/max_runtime" not in request.tags  # the instance's limit, for long runs
    assert len(tracker_env.requests) == 0


def test_the_nightly_schedule_requests_a_reconciliation_of_the_current_month() -> None:
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
    )
    request = tracker_reconcile_schedule(context)
    assert isinstance(request, dg.RunRequest)
    assert request.run_config["ops"]["tracker_issues"]["config"]["mode"] == "reconcile"
    assert request.partition_key == "2026-03-01"
    assert RANGE_START_TAG not in request.tags
    assert request.tags["dagster/max_runtime"] == "3600"
    assert request.run_key == "reconcile:2026-03-04"


def test_dagster_asset_materialize_runs_the_incremental_sync_from_the_command_line(
    tracker_env: TrackerEmulator, engine: sa.Engine, tmp_path
) -> None:
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(hours=1))
    tracker_env.add_changes(2, kind="status")
    this_month = datetime.now(UTC).date().replace(day=1).isoformat()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-m",
            "radiator_assets.definitions",
            "--select",
            "tracker_issues,tracker_changelog,tracker_task_history",
            # The current month: every pending issue is synced, and only this live
            # month's partition is recorded.
            "--partition",
            this_month,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stderr + completed.stdout
    assert count(engine, "SELECT count(*) FROM tracker_tasks WHERE history_stale") == 0
    assert count(engine, "SELECT count(*) FROM tracker_sync_runs WHERE kind = 'changelog'") == 1
    assert (
        count(
            engine,
            "SELECT count(*) FROM tracker_tasks WHERE changelog_synced_updated_at "
            "IS DISTINCT FROM task_updated_at",
        )
        == 0
    )


def test_a_sensor_tick_catches_up_history_a_killed_run_left_stale(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    run_full_sync(engine)
    with dg.instance_for_test() as instance:
        quiet = _tick(instance, dagster_resources)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE tracker_tasks SET history_stale = true WHERE id = 1"))
        stale = _tick(instance, dagster_resources)
    assert isinstance(quiet, dg.SensorResult) and not quiet.run_requests
    assert isinstance(stale, dg.SensorResult)
    (request,) = stale.run_requests
    assert request.run_key.startswith("catch-up:")


def test_the_sensor_asks_again_for_a_first_sync_a_finished_run_did_not_settle(
    tracker_env: TrackerEmulator, dagster_resources: dict[str, dg.ConfigurableResource]
) -> None:
    # A first sync ran under this key, then the query changed (or the warehouse was
    # replaced): no listing of the query now is complete, and the old key is spent.
    with dg.instance_for_test() as instance:
        first = _tick(instance, dagster_resources)
        assert isinstance(first, dg.SensorResult)
        (request,) = first.run_requests
        defs.resolve_job_def("tracker_sync").execute_in_process(
            instance=instance,
            tags={"dagster/run_key": request.run_key},
            asset_selection=[dg.AssetKey("tracker_task_history")],
        )
        again = _tick(instance, dagster_resources)
    assert isinstance(again, dg.SensorResult)
    (retry,) = again.run_requests
    assert retry.run_key != request.run_key and retry.run_key.startswith(request.run_key)


def test_automation_runs_read_only_what_is_pending(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(hours=1))
    tracker_env.add_changes(2, kind="status")
    with dg.instance_for_test() as instance:
        result = _tick(instance, dagster_resources)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    reconcile = tracker_reconcile_schedule(
        dg.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 4, 2, tzinfo=UTC))
    )
    assert isinstance(reconcile, dg.RunRequest)
    for run_config in (request.run_config, reconcile.run_config):
        assert run_config["ops"]["tracker_changelog"]["config"] == {"reread": "none"}
