"""The daily rebuild of the reports.

Every `tracker_sync` run rebuilds the reports after the history, but some of
their numbers move with time alone (the age of open tasks, the TTM of unfinished ones, the
last full week of the activity report): a daily run at 06:00 UTC, with `as_of`
left to default to the run's start, keeps them current. It rebuilds every report
asset in full (`full_rebuild` of each one's `ReportConfig`), the check on the
incremental builds that the sensor's syncs trigger in between. It is also the
pictures' daily run: `CURRENT_REPORTS` holds `report_pictures`, drawn after the
tables it depends on (the sensor's `tracker_sync` runs draw none).
"""

import dagster as dg

from radiator_assets.assets.report_history import CURRENT_REPORTS
from radiator_assets.assets.reports import REPORT_ASSETS

#: every report asset's op (the product reports are one multi-asset op) recomputes every task
FULL_REBUILD = {
    "ops": {asset.op.name: {"config": {"full_rebuild": True}} for asset in REPORT_ASSETS}
}

reports_job = dg.define_asset_job(
    "reports",
    selection=CURRENT_REPORTS,
    description=(
        "Every report table as of the run's start, then every picture (report_pictures) "
        "drawn from them."
    ),
)


@dg.schedule(
    job=reports_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuilds every report once a day (ages and unfinished TTMs grow with time).",
)
def reports_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.date()
    return dg.RunRequest(run_key=f"reports:{day.isoformat()}", run_config=FULL_REBUILD)
