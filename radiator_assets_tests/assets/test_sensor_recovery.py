"""The sensor never leaves work behind: failed or killed syncs are asked for again, a running
sync is not doubled, and changelogs a run left pending are caught up without news."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
from datetime import timedelta

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import URL

from radiator_assets.automation.jobs import HOST_TAG, PID_TAG
from radiator_assets.automation.sensors import (
    BACKOFF_CAP_SECONDS,
    retry_delay,
    sensor_client_limits,
    tracker_changes_sensor,
)
from radiator_assets.emulator import TrackerEmulator
from radiator_assets.resources import TrackerResource
from radiator_assets.settings import Settings
from radiator_assets.sync.issues import sync_issues
from radiator_assets.sync.locking import sync_lock
from radiator_assets_tests.assets.conftest import (
    FIELDS,
    QUERY,
    count,
    fast_client,
    record_first_sync,
    resources_for,
    run_full_sync,
)
from radiator_assets_tests.locked import locked


def _tick(resources: dict[str, dg.ConfigurableResource]) -> dg.SensorResult | dg.SkipReason:
    with dg.instance_for_test() as instance:
        record_first_sync(instance)
        context = dg.build_sensor_context(instance=instance, resources=resources)
        return tracker_changes_sensor(context)


def _run_key(result: dg.SensorResult | dg.SkipReason) -> str:
    assert isinstance(result, dg.SensorResult), result
    (request,) = result.run_requests
    assert request.run_key is not None
    return request.run_key


def test_a_tick_while_a_sync_writes_starts_nothing(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    with sync_lock(engine):
        result = _tick(dagster_resources)
    assert isinstance(result, dg.SkipReason)
    assert "a sync is writing" in str(result.skip_message)
    assert tracker_env.requests == []


def test_a_tick_while_a_sync_run_is_under_way_asks_tracker_nothing(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    """Between a run's steps nobody holds the lock and changelogs look left behind: without
    this, every tick during a run requested a catch-up that only waited for it."""
    with dg.instance_for_test() as instance:
        record_first_sync(instance)
        context = dg.build_sensor_context(instance=instance, resources=dagster_resources)
        instance.add_run(
            dg.DagsterRun(
                job_name="tracker_sync", run_id="0f1e2d3c-run", status=dg.DagsterRunStatus.STARTED
            )
        )
        result = tracker_changes_sensor(context)

    assert isinstance(result, dg.SkipReason)
    assert (
        result.skip_message == "run 0f1e2d3c of tracker_sync is started; the next tick looks again"
    )
    assert tracker_env.requests == []


def test_a_tick_after_a_failed_run_that_dagster_will_retry_requests_nothing(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    """Found on the production topology: a run worker killed mid-run fails its run, and the
    tick before the daemon's retry existed requested a second run of the same work."""
    with dg.instance_for_test() as instance:
        record_first_sync(instance)
        context = dg.build_sensor_context(instance=instance, resources=dagster_resources)
        run = dg.DagsterRun(
            job_name="tracker_sync",
            run_id="9a8b7c6d-run",
            status=dg.DagsterRunStatus.FAILURE,
            tags={"dagster/will_retry": "true"},
        )
        instance.add_run(run)
        waiting = tracker_changes_sensor(context)
        instance.add_run_tags(run.run_id, {"dagster/auto_retry_run_id": "5e4f3a2b-run"})
        retried = tracker_changes_sensor(context)

    assert isinstance(waiting, dg.SkipReason)
    assert waiting.skip_message == (
        "run 9a8b7c6d of tracker_sync failed and Dagster's run retries start it again; "
        "the next tick looks again"
    )
    # Once the retry exists, it is a run like any other: this one failed too, so the tick
    # requests the work again itself.
    assert _run_key(retried).startswith("initial-sync:")


def test_a_killed_first_sync_is_requested_again_under_a_new_key(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    first = _run_key(_tick(dagster_resources))
    # The run died mid-step: its journal row says running, nobody holds the lock.
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO tracker_sync_runs (kind, status) VALUES ('issues', 'running')")
        )

    second = _run_key(_tick(dagster_resources))

    assert first != second
    assert count(engine, "SELECT count(*) FROM tracker_sync_runs WHERE status = 'running'") == 0
    assert (
        count(engine, "SELECT count(*) FROM tracker_sync_runs WHERE error LIKE 'abandoned%'") == 1
    )


def test_a_run_that_failed_before_any_sync_step_is_requested_again(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    @dg.op
    def died_waiting_for_the_lock() -> None:
        raise RuntimeError("killed")

    @dg.job
    def tracker_sync() -> None:
        died_waiting_for_the_lock()

    with dg.instance_for_test() as instance:
        record_first_sync(instance)
        context = dg.build_sensor_context(instance=instance, resources=dagster_resources)
        key = _run_key(tracker_changes_sensor(context))
        failed = tracker_sync.execute_in_process(
            instance=instance, tags={"dagster/run_key": key}, raise_on_error=False
        )
        assert not failed.success
        again = _run_key(tracker_changes_sensor(context))

    assert again == f"{key}:retry1"


def test_changelogs_left_pending_are_caught_up_without_news(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    run_full_sync(engine)
    with engine.begin() as conn:  # as if the changelog step died after the issues step
        conn.execute(
            sa.text(
                "UPDATE tracker_tasks SET changelog_synced_updated_at = NULL "
                "WHERE id = (SELECT min(id) FROM tracker_tasks)"
            )
        )

    key = _run_key(_tick(dagster_resources))

    assert key.startswith("catch-up:")


def test_an_issue_with_a_garbled_update_time_does_not_break_the_tick(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(hours=1))
    (changed,) = tracker_env.add_changes(1, kind="status")
    record = tracker_env.org.resolve(changed)
    assert record is not None
    tracker_env.replace_json(changed, {**record.data, "updatedAt": "not-a-date"})
    (good,) = tracker_env.add_changes(1, kind="status")

    key = _run_key(_tick(dagster_resources))

    assert key.startswith("sync:")
    assert good != changed


def test_after_failed_runs_in_a_row_the_next_request_waits_longer_each_time() -> None:
    assert [retry_delay(n, 300) for n in range(6)] == [0, 0, 600, 1200, 2400, 3600]
    assert retry_delay(30, 300) == BACKOFF_CAP_SECONDS


def test_a_tick_after_three_failed_runs_in_a_row_waits_and_says_until_when(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    @dg.op
    def tracker_unavailable() -> None:
        raise RuntimeError("503")

    @dg.job
    def tracker_sync() -> None:
        tracker_unavailable()

    with dg.instance_for_test() as instance:
        record_first_sync(instance)
        for _ in range(3):
            assert not tracker_sync.execute_in_process(
                instance=instance, raise_on_error=False
            ).success
        context = dg.build_sensor_context(instance=instance, resources=dagster_resources)
        result = tracker_changes_sensor(context)

    assert isinstance(result, dg.SkipReason)
    assert re.fullmatch(
        r"3 runs of tracker_sync failed in a row; the next one at \d\d:\d\d:\d\d UTC "
        r"\(backoff 1200 s\)",
        str(result.skip_message),
    ), result.skip_message
    assert tracker_env.requests == []


def test_a_query_that_matched_no_issue_is_not_synced_again_until_one_appears(
    tracker_env: TrackerEmulator, engine: sa.Engine, database_url: URL
) -> None:
    """Found on the production topology: a complete listing that found nothing left no
    mark, and every tick requested the whole first sync again (8 runs in 150 s)."""
    query = "Queue: DEV"  # no issue lives there
    with fast_client() as client:
        listed = locked(sync_issues, engine, client, base_query=query, fields=FIELDS)
    assert listed.seen == 0 and listed.listing_complete
    resources = {
        **resources_for(tracker_env, database_url),
        "tracker": TrackerResource(
            api_url=tracker_env.base_url,
            token=tracker_env.token,
            org_id=tracker_env.org_id,
            query=query,
        ),
    }
    with dg.instance_for_test() as instance:
        record_first_sync(instance)
        context = dg.build_sensor_context(instance=instance, resources=resources)
        quiet = tracker_changes_sensor(context)
        tracker_env.create_issue("DEV")
        news = tracker_changes_sensor(context)

    assert isinstance(quiet, dg.SensorResult) and not quiet.run_requests
    assert quiet.skip_reason is not None
    assert quiet.skip_reason.skip_message == (
        "nothing changed since a listing that found no issue (1 request)"
    )
    assert _run_key(news).startswith("sync:empty..")


@dg.job(name="tracker_sync")
def _succeeding_tracker_sync() -> None:
    """Stands for a run of the sync job that succeeded without settling the work."""

    @dg.op
    def settled_nothing() -> None:
        pass

    settled_nothing()


def test_work_a_successful_run_left_is_caught_up_hourly_and_the_tick_says_so(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    """Found on the production topology: a run that quarantined an issue inside the overlap
    succeeded, and every later tick asked for the same key, which Dagster dropped with an
    empty skip reason; the issue was never fetched again."""
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(minutes=2))
    tracker_env.add_changes(1)
    with dg.instance_for_test() as instance:
        record_first_sync(instance)
        context = dg.build_sensor_context(instance=instance, resources=dagster_resources)
        keys = []
        for _ in range(2):
            keys.append(_run_key(tracker_changes_sensor(context)))
            done = _succeeding_tracker_sync.execute_in_process(
                instance=instance, tags={"dagster/run_key": keys[-1]}
            )
            assert done.success
        third = tracker_changes_sensor(context)

    assert keys[0].startswith("sync:")
    assert keys[1].startswith("catch-up:")
    assert isinstance(third, dg.SensorResult) and not third.run_requests
    assert third.skip_reason is not None
    assert re.fullmatch(
        r"run \w{8} did this work and left some \(quarantined records or changelogs it "
        r"could not fetch\); the next catch-up after \d\d:00 UTC",
        third.skip_reason.skip_message or "",
    ), third.skip_reason


def test_a_run_whose_radiator_sync_process_is_gone_is_failed_and_holds_nothing_back(
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    dagster_resources: dict[str, dg.ConfigurableResource],
) -> None:
    """A `radiator sync` killed mid-run leaves its in-process run STARTED; nothing in
    Dagster watches such a run, and the sensor would wait for it until its runtime limit."""
    finished = subprocess.Popen(["true"])
    finished.wait()
    gone = dg.DagsterRun(
        job_name="tracker_sync",
        run_id="1a2b3c4d-run",
        status=dg.DagsterRunStatus.STARTED,
        tags={HOST_TAG: socket.gethostname(), PID_TAG: str(finished.pid)},
    )
    alive = dg.DagsterRun(
        job_name="tracker_sync",
        run_id="5e6f7a8b-run",
        status=dg.DagsterRunStatus.STARTED,
        tags={HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())},
    )
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=dagster_resources)
        instance.add_run(gone)
        first = tracker_changes_sensor(context)
        instance.add_run(alive)
        second = tracker_changes_sensor(context)
        status = instance.get_run_by_id(gone.run_id).status

    assert status == dg.DagsterRunStatus.FAILURE
    assert _run_key(first).startswith("initial-sync:")
    assert isinstance(second, dg.SkipReason)
    assert second.skip_message == (
        "run 5e6f7a8b of tracker_sync is started; the next tick looks again"
    )


def test_a_tick_asks_tracker_within_dagsters_sensor_timeout() -> None:
    generous = Settings(TRACKER_MAX_RETRY_SECONDS=300, TRACKER_READ_TIMEOUT=60)
    assert sensor_client_limits(generous) == {"max_retry_seconds": 20.0, "read_timeout": 15.0}
    tight = Settings(TRACKER_MAX_RETRY_SECONDS=3, TRACKER_READ_TIMEOUT=5)
    assert sensor_client_limits(tight) == {"max_retry_seconds": 3.0, "read_timeout": 5.0}


def test_a_first_sync_whose_every_retry_key_is_used_says_so_instead_of_a_silent_drop(
    tracker_env: TrackerEmulator, dagster_resources: dict[str, dg.ConfigurableResource]
) -> None:
    base = f"initial-sync:{hashlib.sha1(QUERY.encode()).hexdigest()[:8]}:0"
    keys = [base] + [f"{base}:retry{n}" for n in range(1, 101)]
    with dg.instance_for_test() as instance:
        for n, key in enumerate(keys):
            instance.add_run(
                dg.DagsterRun(
                    job_name="tracker_sync",
                    run_id=f"{n:08d}-run",
                    status=dg.DagsterRunStatus.SUCCESS,
                    tags={"dagster/run_key": key},
                )
            )
        context = dg.build_sensor_context(instance=instance, resources=dagster_resources)
        result = tracker_changes_sensor(context)

    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == (
        f"{base}:retry100 was used by run 00000100, which did not settle the first sync: "
        "see its log"
    )
