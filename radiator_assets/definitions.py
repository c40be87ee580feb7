"""The Dagster code location: every asset, check, job, sensor, schedule and resource."""

from __future__ import annotations

import dagster as dg

from radiator_assets.assets.reports import REPORT_ASSETS
from radiator_assets.assets.tracker import TRACKER_ASSETS
from radiator_assets.assets.tracker_checks import TRACKER_CHECKS
from radiator_assets.automation.jobs import tracker_sync_job
from radiator_assets.automation.report_schedules import reports_job, reports_schedule
from radiator_assets.automation.schedules import tracker_reconcile_schedule
from radiator_assets.automation.sensors import tracker_changes_sensor
from radiator_assets.resources import TrackerResource, WarehouseResource

RESOURCES = {"warehouse": WarehouseResource(), "tracker": TrackerResource()}

defs = dg.Definitions(
    assets=[*TRACKER_ASSETS, *REPORT_ASSETS],
    asset_checks=[*TRACKER_CHECKS],
    jobs=[tracker_sync_job, reports_job],
    sensors=[tracker_changes_sensor],
    schedules=[tracker_reconcile_schedule, reports_schedule],
    resources=RESOURCES,
    # One process per run: the steps are sequential (each waits for the one before, and the
    # sync and report steps take turns on advisory locks), so a process per step only added
    # an interpreter start, a resource initialisation and their events to every step.
    executor=dg.in_process_executor,
)
