"""The sensor that starts an incremental sync when Tracker has changes.

Its cursor is the warehouse's high-water mark of `updatedAt`, read from the
database on every tick, so it only moves once a run has committed the data;
the run key names the mark and the newest change, so a tick never starts the
same work twice.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from radiator_assets.automation.jobs import (
    partition_range_tags,
    tracker_sync_job,
    whole_history_tags,
)
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.settings import get_settings
from radiator_assets.sync.changes import changes_since
from radiator_assets.sync.issues import stored_high_water_mark
from radiator_assets.sync.window import incremental_range_start


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
    with warehouse.engine().connect() as conn:
        mark = stored_high_water_mark(conn)
    today = datetime.now(UTC).date()
    if mark is None:
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key="initial-sync", tags=whole_history_tags(today))],
            cursor="",
        )
    with tracker.client() as client:
        changes = changes_since(
            client,
            settings.tracker_query,
            mark,
            overlap=timedelta(minutes=settings.sync_overlap_minutes),
        )
        requests_made = int(client.counters["requests"])
    if changes is None:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"nothing changed since {mark.isoformat()} ({requests_made} request)"
            ),
            cursor=mark.isoformat(),
        )
    context.log.info(f"{changes.count} issue(s) changed since {mark.isoformat()}")
    first_day = incremental_range_start(
        warehouse.engine(),
        timedelta(minutes=settings.sync_overlap_minutes),
        changes_from=datetime.combine(changes.days[0], datetime.min.time(), UTC),
    )
    assert first_day is not None  # a mark exists
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"sync:{mark.isoformat()}..{changes.newest.isoformat()}",
                # Today is the newest partition (Tracker reports no future changes).
                tags=partition_range_tags(min(first_day, today), today),
            )
        ],
        cursor=mark.isoformat(),
    )
