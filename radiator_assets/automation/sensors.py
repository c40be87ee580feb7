"""The sensor that starts an incremental sync when Tracker has changes.

Its cursor is the mark of the last complete listing, read from the warehouse
on every tick, so it only moves once a run has listed and committed
everything; the run key names the mark, the newest change and how many sync
steps have failed so far, so a tick never starts the same work twice, and
work a failed run left behind is requested again on the next tick.

* While a run of the sync job is queued or under way, or failed and is about
  to be retried by Dagster's run retries, a tick asks Tracker nothing and
  requests nothing: between a run's steps the warehouse looks like work left
  behind, and a second run would only wait for the first. A `radiator sync`
  run whose process on this host is gone is failed first (Dagster watches no
  in-process run).
* After failed runs in a row the next request waits longer each time
  (`retry_delay`): an outage costs a failed run now and then, not one per tick.
* Work a successful run left (an issue it quarantined, still in the overlap)
  goes to that hour's catch-up; a key already used is never requested again
  (Dagster would drop it without a word): the tick says why it skips.
"""

import hashlib
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from itertools import takewhile

import dagster as dg

from radiator_assets.assets.partitions import current_partition_key, first_month_recorded
from radiator_assets.automation.jobs import (
    HOST_TAG,
    INCREMENTAL_RUN_TAGS,
    PENDING_ONLY_OPS,
    PID_TAG,
    tracker_sync_job,
    whole_history_tags,
)
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.settings import Settings, get_settings
from radiator_assets.sync.changes import sync_need
from radiator_assets.sync.sync_runs import failed_steps, settle_abandoned_runs

_UNSUCCESSFUL = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
_FINISHED = (*_UNSUCCESSFUL, dg.DagsterRunStatus.SUCCESS)
_UNDER_WAY = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
AUTOMATION_RUN_CONFIG = {"ops": PENDING_ONLY_OPS}
BACKOFF_CAP_SECONDS = 3600.0
#: A tick must answer within Dagster's sensor timeout (60 s unless
#: DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS says otherwise): its question to Tracker gets at
#: most this retry budget and read timeout, so an outage shows as the tick's own error
#: naming Tracker, not as Dagster's "unable to reach the user code server".
SENSOR_MAX_RETRY_SECONDS = 20.0
SENSOR_READ_TIMEOUT = 15.0
# Dagster's run-retry tags: set on a failed run it will retry, and once the retry exists.
WILL_RETRY_TAG = "dagster/will_retry"
AUTO_RETRY_RUN_TAG = "dagster/auto_retry_run_id"


def _instance(context: dg.SensorEvaluationContext) -> dg.DagsterInstance | None:
    """The tick's instance; None when evaluated without one (a bare test context)."""
    try:
        return context.instance
    except dg.DagsterInvariantViolationError:
        return None


def _first_month_recorded(context: dg.SensorEvaluationContext) -> bool:
    instance = _instance(context)
    return instance is None or first_month_recorded(instance)


def _run_in_hand(context: dg.SensorEvaluationContext) -> str | None:
    """Why a run of the sync job is already in hand, whoever started it: one is queued or
    not finished, or the newest failed and Dagster's run retries will start it again. A
    run of a `radiator sync` process on this host that is gone is failed first."""
    instance = _instance(context)
    if instance is None:
        return None
    job = tracker_sync_job.name
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=job, statuses=_UNDER_WAY)):
        if _process_gone(run):
            instance.report_run_failed(
                run, f"the radiator sync process {run.tags[PID_TAG]} running it is gone"
            )
            continue
        return f"run {run.run_id[:8]} of {job} is {run.status.value.lower()}"
    newest = instance.get_runs(filters=dg.RunsFilter(job_name=job), limit=1)
    if (
        newest
        and newest[0].status == dg.DagsterRunStatus.FAILURE
        and newest[0].tags.get(WILL_RETRY_TAG) == "true"
        and AUTO_RETRY_RUN_TAG not in newest[0].tags
    ):
        run = newest[0]
        return f"run {run.run_id[:8]} of {job} failed and Dagster's run retries start it again"
    return None


def _process_gone(run: dg.DagsterRun) -> bool:
    """A run executed in a `radiator sync` process on this host whose process has ended
    (killed: it could not record its own end). Dagster watches no in-process run."""
    pid = run.tags.get(PID_TAG, "")
    if run.tags.get(HOST_TAG) != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def _run_with_key(context: dg.SensorEvaluationContext, key: str) -> dg.DagsterRun | None:
    """The newest run requested under `key`; None when there is none (or no instance)."""
    instance = _instance(context)
    if instance is None:
        return None
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": key}), limit=1)
    return runs[0] if runs else None


def sensor_client_limits(settings: Settings) -> dict[str, float]:
    """The client overrides of a tick: the settings' budget and timeout, capped."""
    return {
        "max_retry_seconds": min(settings.tracker_max_retry_seconds, SENSOR_MAX_RETRY_SECONDS),
        "read_timeout": min(settings.tracker_read_timeout, SENSOR_READ_TIMEOUT),
    }


def retry_delay(failures_in_a_row: int, interval: float) -> float:
    """Seconds to wait after the last of `failures_in_a_row` failed runs before requesting
    another: none after one failure (the next tick tries again), then the sensor's interval
    doubled per failure, at most an hour."""
    if failures_in_a_row <= 1:
        return 0.0
    return min(interval * 2 ** (failures_in_a_row - 1), BACKOFF_CAP_SECONDS)


def _backing_off(context: dg.SensorEvaluationContext, interval: float, now: float) -> str | None:
    """Why this tick must not request a run yet (recent runs failed in a row), or None."""
    instance = _instance(context)
    if instance is None:
        return None
    newest_first = instance.get_run_records(
        filters=dg.RunsFilter(job_name=tracker_sync_job.name), limit=20
    )
    failed = list(
        takewhile(lambda r: r.dagster_run.status == dg.DagsterRunStatus.FAILURE, newest_first)
    )
    if not failed:
        return None
    delay = retry_delay(len(failed), interval)
    last = failed[0]
    ready = (last.end_time or last.update_timestamp.timestamp()) + delay
    if now >= ready:
        return None
    at = datetime.fromtimestamp(ready, UTC).strftime("%H:%M:%S UTC")
    return (
        f"{len(failed)} runs of {tracker_sync_job.name} failed in a row; "
        f"the next one at {at} (backoff {delay:.0f} s)"
    )


def _retry_key(
    context: dg.SensorEvaluationContext,
    key: str,
    most: int = 100,
    past: tuple[dg.DagsterRunStatus, ...] = _UNSUCCESSFUL,
) -> str:
    """`key`, or `key:retryN` when the runs of the keys before ended in one of `past`
    (failed or canceled by default). Dagster starts one run per key: a run that died
    before its first sync step, while waiting for the lock, would otherwise keep its work
    from being asked for again."""
    candidate = key
    for attempt in range(1, most + 1):
        run = _run_with_key(context, candidate)
        if run is None or run.status not in past:
            return candidate
        candidate = f"{key}:retry{attempt}"
    return candidate


@dg.sensor(
    job=tracker_sync_job,
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Asks Tracker for issues updated since the stored high-water mark.",
)
def tracker_changes_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.SensorResult | dg.SkipReason:
    settings = tracker.settings()
    if settings.tracker_token is None:
        return dg.SkipReason("TRACKER_TOKEN is not set: nothing to ask Tracker")
    in_hand = _run_in_hand(context)
    if in_hand is not None:
        return dg.SkipReason(f"{in_hand}; the next tick looks again")
    backoff = _backing_off(context, settings.sensor_interval_seconds, time.time())
    if backoff is not None:
        return dg.SkipReason(backoff)
    engine = warehouse.engine()
    if settle_abandoned_runs(engine) is None:
        return dg.SkipReason("a sync is writing right now; the next tick looks again")
    failures = failed_steps(engine)
    with tracker.client(**sensor_client_limits(settings)) as client:
        need = sync_need(
            engine,
            client,
            settings.tracker_query,
            timedelta(minutes=settings.sync_overlap_minutes),
        )
        requests_made = int(client.counters["requests"])
    mark = need.mark
    # The mark, or what stands for it while every complete listing found no issue.
    since = mark.isoformat() if mark else "a listing that found no issue"
    cursor = mark.isoformat() if mark else ""
    if not need.listed or not _first_month_recorded(context):
        # No complete listing of this query yet, or no first sync recorded every month: a
        # run over every month. A finished run under the key did not settle it (the query
        # changed, the warehouse was replaced, a run died): the key moves on.
        query = hashlib.sha1(settings.tracker_query.encode()).hexdigest()[:8]
        key = _retry_key(context, f"initial-sync:{query}:{failures}", past=_FINISHED)
        done = _run_with_key(context, key)
        if done is not None:  # every retry key is used: Dagster would drop it without a word
            return dg.SkipReason(
                f"{key} was used by run {done.run_id[:8]}, which did not settle the first "
                "sync: see its log"
            )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=key,
                    run_config=AUTOMATION_RUN_CONFIG,
                    tags=whole_history_tags(),
                )
            ],
            cursor=cursor,
        )
    if need.nothing:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"nothing changed since {since} ({requests_made} request)"),
            cursor=cursor,
        )
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # At most one catch-up an hour: quarantined records are retried without a storm.
    catch_up = f"catch-up:{cursor or 'empty'}:{failures}:{hour:%Y-%m-%dT%H}"
    if need.changes is None:
        # An earlier run stopped before fetching some changelogs or rebuilding some history:
        # catch up without news.
        context.log.info(
            "work an earlier run left: "
            + (
                f"changelogs pending since {need.left_behind.isoformat()}"
                if need.left_behind
                else "stale history"
                if need.history_stale
                else "quarantined records"
            )
        )
        run_key = _retry_key(context, catch_up)
    else:
        context.log.info(f"{need.changes.count} issue(s) changed since {since}")
        run_key = _retry_key(
            context, f"sync:{cursor or 'empty'}..{need.changes.newest.isoformat()}:{failures}"
        )
        if _run_with_key(context, run_key) is not None:
            # A run did this work and succeeded, yet it shows again: an issue it had to
            # quarantine is still inside the overlap. The hourly catch-up retries it.
            run_key = _retry_key(context, catch_up)
    done = _run_with_key(context, run_key)
    if done is not None:
        # Dagster would drop a request under a used key with no word in the UI: say why.
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"run {done.run_id[:8]} did this work and left some (quarantined records or "
                "changelogs it could not fetch); "
                f"the next catch-up after {hour + timedelta(hours=1):%H:%M} UTC"
            ),
            cursor=cursor,
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                run_config=AUTOMATION_RUN_CONFIG,
                # New entries land in the current month; the run records any other month
                # whose entries it stores (a catch-up of older work) as it goes.
                partition_key=current_partition_key(),
                tags=INCREMENTAL_RUN_TAGS,
            )
        ],
        cursor=cursor,
    )
