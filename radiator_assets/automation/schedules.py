"""Schedules: the nightly reconciliation with Tracker."""

import dagster as dg

from radiator_assets.automation.jobs import tracker_sync_job, whole_history_tags

RECONCILE_RUN_CONFIG = {"ops": {"tracker_issues": {"config": {"mode": "reconcile"}}}}


@dg.schedule(
    job=tracker_sync_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Lists every issue of the query, marks vanished ones deleted, resyncs those whose "
        "updatedAt differs from the stored one."
    ),
)
def tracker_reconcile_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.date()
    return dg.RunRequest(
        run_key=f"reconcile:{day.isoformat()}",
        run_config=RECONCILE_RUN_CONFIG,
        tags=whole_history_tags(day),
    )
