"""Schedules: the nightly reconciliation with Tracker."""

import dagster as dg

from radiator_assets.assets.partitions import current_partition_key
from radiator_assets.automation.jobs import (
    INCREMENTAL_RUN_TAGS,
    PENDING_ONLY_OPS,
    tracker_sync_job,
)

RECONCILE_RUN_CONFIG = {
    "ops": {"tracker_issues": {"config": {"mode": "reconcile"}}, **PENDING_ONLY_OPS}
}


@dg.schedule(
    job=tracker_sync_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Lists every issue of the query, marks vanished ones deleted, resyncs those whose "
        "updatedAt differs from the stored one. The run covers the current month's partition; "
        "any other month whose entries it stores is recorded as materialized too."
    ),
)
def tracker_reconcile_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.date()
    return dg.RunRequest(
        run_key=f"reconcile:{day.isoformat()}",
        run_config=RECONCILE_RUN_CONFIG,
        partition_key=current_partition_key(context.scheduled_execution_time),
        tags=INCREMENTAL_RUN_TAGS,
    )
