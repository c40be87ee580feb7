"""Monthly changelog partitions: what a run reads, and which partitions it records.

The organisation spans four months, so there are closed months to materialize
again and a live one that incremental runs keep current.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from radiator_assets.assets.partitions import changelog_partitions, first_partition_key
from radiator_assets.assets.tracker import tracker_changelog
from radiator_assets.emulator import Fault, TrackerEmulator, generate_org
from radiator_assets.runner import run_sync
from radiator_assets.sync import quarantine
from radiator_assets_tests.assets.conftest import (
    point_app_at,
    recent_now,
    record_first_sync,
    resources_for,
    run_full_sync,
)

CHANGELOG = dg.AssetKey("tracker_changelog")


@pytest.fixture
def four_months(
    app_env: URL, tracker_emulator_factory: Callable[..., TrackerEmulator], monkeypatch
) -> TrackerEmulator:
    org = generate_org(seed=11, n_issues=60, span_days=110, now=recent_now())
    return point_app_at(tracker_emulator_factory(org), monkeypatch)


def month_key(months_back: int) -> str:
    first = datetime.now(UTC).date().replace(day=1)
    for _ in range(months_back):
        first = (first - timedelta(days=1)).replace(day=1)
    return first.isoformat()


def window(key: str) -> tuple[datetime, datetime]:
    start = date.fromisoformat(key)
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC)


def sql(engine: Engine, query: str, **params: Any) -> Any:
    with engine.begin() as conn:
        return conn.execute(sa.text(query), params)


def window_counts(engine: Engine, key: str) -> tuple[int, int]:
    start, end = window(key)
    row = sql(
        engine,
        "SELECT count(*), count(DISTINCT task_id) FROM tracker_changelog "
        "WHERE updated_at >= :start AND updated_at < :end",
        start=start,
        end=end,
    ).one()
    return int(row[0]), int(row[1])


def changelog_materializations(result: Any) -> dict[str, dict[str, Any]]:
    """Partition key -> plain metadata of each tracker_changelog materialization of a run."""
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key == CHANGELOG:
            out[mat.partition] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def run_partitions(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict[str, Any]]:
    """Partition key -> plain metadata of each tracker_changelog materialization of a run."""
    out = {}
    for record in instance.get_records_for_run(run_id).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.is_step_materialization and event.asset_key == CHANGELOG:
            mat = event.event_specific_data.materialization
            out[mat.partition] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def assert_partition_numbers(engine: Engine, recorded: dict[str, dict[str, Any]]) -> None:
    for key, metadata in recorded.items():
        entries, issues = window_counts(engine, key)
        assert (metadata["dagster/row_count"], metadata["issues"]) == (entries, issues), key


def changelog_requests(emulator: TrackerEmulator) -> list[str]:
    """The issue id of every changelog request the emulator answered."""
    return [r.path.split("/")[-2] for r in emulator.requests if r.path.endswith("/changelog")]


def test_materializing_an_old_partition_reads_exactly_that_months_issues_again(
    four_months: TrackerEmulator, engine: Engine, database_url: URL
) -> None:
    run_full_sync(engine)
    old = month_key(2)
    start, end = window(old)
    expected_entries = window_counts(engine, old)
    assert expected_entries[0] > 0
    # The warehouse lost that month's entries (a restore, a bad manual delete).
    sql(
        engine,
        "DELETE FROM tracker_changelog WHERE updated_at >= :start AND updated_at < :end",
        start=start,
        end=end,
    )
    window_issues = {
        r[0]
        for r in sql(
            engine,
            "SELECT tracker_id FROM tracker_tasks WHERE deleted_at IS NULL "
            "AND created_at < :end AND task_updated_at >= :start",
            start=start,
            end=end,
        )
    }
    four_months.reset_requests()

    with dg.instance_for_test() as instance:
        result = materialize_recorded_month(instance, old, four_months, database_url)
        recorded_status = instance.get_materialized_partitions(CHANGELOG)

    assert result.success
    requested = changelog_requests(four_months)
    assert set(requested) == window_issues
    assert len(requested) == len(window_issues)  # one page each: no issue read twice
    assert window_counts(engine, old) == expected_entries
    recorded = changelog_materializations(result)
    assert set(recorded) == {old} == recorded_status
    assert recorded[old]["entries_inserted"] == expected_entries[0]
    assert_partition_numbers(engine, recorded)


def test_an_incremental_run_records_only_the_current_month(
    four_months: TrackerEmulator, engine: Engine
) -> None:
    run_full_sync(engine)
    four_months.advance_clock(timedelta(hours=3))
    four_months.add_changes(4, kind="status")
    four_months.reset_requests()

    with dg.instance_for_test() as instance:
        record_first_sync(instance)
        outcome = run_sync(selection=["group:tracker"], instance=instance)
        (run,) = instance.get_runs()
        recorded = run_partitions(instance, run.run_id)

    assert outcome.success
    assert run.job_name == "tracker_sync"
    assert set(recorded) == {month_key(0)}
    # The changed issues only: no closed month is read again.
    assert len(set(changelog_requests(four_months))) == 4
    assert outcome.value("tracker_changelog", "rows_inserted") >= 4


def test_a_catch_up_records_the_old_month_whose_entries_it_stored(
    four_months: TrackerEmulator, engine: Engine
) -> None:
    run_full_sync(engine)
    old = month_key(2)
    start, end = window(old)
    # An earlier run died before this issue's changelog was stored.
    task_id = sql(
        engine,
        "SELECT task_id FROM tracker_changelog WHERE updated_at >= :start AND updated_at < :end "
        "ORDER BY task_id LIMIT 1",
        start=start,
        end=end,
    ).scalar_one()
    sql(engine, "DELETE FROM tracker_changelog WHERE task_id = :t", t=task_id)
    sql(
        engine,
        "UPDATE tracker_tasks SET last_changelog_id = NULL, changelog_synced_updated_at = NULL "
        "WHERE id = :t",
        t=task_id,
    )
    months_of_issue = {
        d.replace(day=1).isoformat()
        for (d,) in sql(
            engine,
            "SELECT DISTINCT CAST(timezone('UTC', updated_at) AS date) FROM tracker_changelog",
        )
    }
    assert old in months_of_issue

    with dg.instance_for_test() as instance:
        record_first_sync(instance)
        outcome = run_sync(selection=["group:tracker"], mode="reconcile", instance=instance)
        (run,) = instance.get_runs()
        materialized = run_partitions(instance, run.run_id)

    assert outcome.success
    reinserted = {
        d.replace(day=1).isoformat()
        for (d,) in sql(
            engine,
            "SELECT DISTINCT CAST(timezone('UTC', updated_at) AS date) FROM tracker_changelog "
            "WHERE task_id = :t",
            t=task_id,
        )
    }
    assert set(materialized) == reinserted | {month_key(0)}
    assert materialized[old]["entries_inserted"] > 0
    assert "api_requests" not in materialized[old]  # run-wide figures: on one partition only
    assert "api_requests" in materialized[month_key(0)]
    assert_partition_numbers(engine, materialized)


def materialize_recorded_month(
    instance: dg.DagsterInstance, key: str, emulator: TrackerEmulator, database_url: URL
) -> dg.ExecuteInProcessResult:
    """Materialize month `key` as the UI does, the month having been recorded before (by
    the first sync) and its entries lost since."""
    instance.report_runless_asset_event(dg.AssetMaterialization(CHANGELOG, partition=key))
    return dg.materialize(
        [tracker_changelog],
        partition_key=key,
        resources=resources_for(emulator, database_url),
        instance=instance,
        raise_on_error=False,
    )


def lose_month_of_one_issue(engine: Engine, key: str) -> tuple[int, str, int]:
    """Delete one issue's entries of month `key`; (task id, tracker id, entries lost)."""
    start, end = window(key)
    task_id, tracker_id = sql(
        engine,
        "SELECT c.task_id, t.tracker_id FROM tracker_changelog c "
        "JOIN tracker_tasks t ON t.id = c.task_id "
        "WHERE c.updated_at >= :start AND c.updated_at < :end ORDER BY c.task_id LIMIT 1",
        start=start,
        end=end,
    ).one()
    lost = sql(
        engine,
        "DELETE FROM tracker_changelog WHERE task_id = :t "
        "AND updated_at >= :start AND updated_at < :end",
        t=task_id,
        start=start,
        end=end,
    ).rowcount
    return task_id, tracker_id, lost


def test_a_quarantined_issue_inside_a_reread_month_is_read_from_before_the_month(
    four_months: TrackerEmulator, engine: Engine, database_url: URL
) -> None:
    run_full_sync(engine)
    old = month_key(2)
    before = window_counts(engine, old)
    task_id, tracker_id, lost = lose_month_of_one_issue(engine, old)
    assert lost > 0
    # Later its changelog failed: it waits for a retry from its newest entry.
    newest = sql(
        engine, "SELECT last_changelog_id FROM tracker_tasks WHERE id = :t", t=task_id
    ).scalar_one()
    with engine.begin() as conn:
        quarantine.put(
            conn, [quarantine.BadRecord("changelog", tracker_id, "HTTP 500", None, None, newest)]
        )

    with dg.instance_for_test() as instance:
        result = materialize_recorded_month(instance, old, four_months, database_url)

    assert result.success
    assert window_counts(engine, old) == before
    with engine.connect() as conn:
        assert quarantine.open_refs(conn, "changelog") == []


def test_a_reread_month_with_an_unreadable_issue_is_not_recorded_and_keeps_the_rest(
    four_months: TrackerEmulator, engine: Engine, database_url: URL
) -> None:
    run_full_sync(engine)
    old = month_key(2)
    before = window_counts(engine, old)
    _, tracker_id, lost = lose_month_of_one_issue(engine, old)
    _, _, other_lost = lose_month_of_one_issue(engine, old)
    assert lost and other_lost
    four_months.add_fault(Fault.http(500, f"/issues/{tracker_id}/changelog", None))

    with dg.instance_for_test() as instance:
        result = materialize_recorded_month(instance, old, four_months, database_url)
        latest = instance.get_latest_materialization_event(CHANGELOG)

    assert not result.success
    assert "could not be and wait in the quarantine" in str(result.get_step_failure_events()[0])
    assert latest is not None and latest.run_id != result.run_id  # not recorded again
    # The other issue's lost entries are back; only the unreadable issue's are missing.
    assert window_counts(engine, old)[0] == before[0] - lost


def test_a_rerun_after_a_killed_first_sync_records_every_month(
    four_months: TrackerEmulator, engine: Engine
) -> None:
    run_full_sync(engine)  # its entries stored, but no Dagster run recorded a month
    with dg.instance_for_test() as instance:
        outcome = run_sync(selection=["group:tracker"], instance=instance)
        recorded = instance.get_materialized_partitions(CHANGELOG)
    assert outcome.success
    first = first_partition_key()
    assert first in recorded and month_key(0) in recorded
    assert recorded == set(changelog_partitions.get_partition_keys())
