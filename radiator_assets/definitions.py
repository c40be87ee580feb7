"""The Dagster code location: every asset, check, job, sensor, schedule and resource."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

import dagster as dg

from radiator_assets.assets.delivery import DELIVERY_ASSETS
from radiator_assets.assets.report_history import report_summary_history
from radiator_assets.assets.report_pictures import report_pictures
from radiator_assets.assets.reports import REPORT_ASSETS
from radiator_assets.assets.tracker import TRACKER_ASSETS
from radiator_assets.assets.tracker_checks import TRACKER_CHECKS
from radiator_assets.automation.delivery_sensors import (
    google_sheets_after_reports,
    google_sheets_job,
    telegram_commands_sensor,
    telegram_reports_sensor,
)
from radiator_assets.automation.jobs import pictures_job, tracker_sync_job
from radiator_assets.automation.report_schedules import reports_job, reports_schedule
from radiator_assets.automation.schedules import tracker_reconcile_schedule
from radiator_assets.automation.sensors import tracker_changes_sensor
from radiator_assets.resources import (
    SHEETS_ENV,
    TELEGRAM_ENV,
    TRACKER_ENV,
    WAREHOUSE_ENV,
    GoogleSheetsResource,
    TelegramResource,
    TrackerResource,
    WarehouseResource,
)
from radiator_assets.settings import get_settings


def env_fields(env: Mapping[str, str]) -> dict[str, str]:
    """`dg.EnvVar(NAME)` for each field whose variable is set now (resolved by Dagster in
    the step's process; the UI shows the name only); unset ones stay None, so `Settings`
    gives their defaults (or reads `.env`) at run time."""
    return {field: dg.EnvVar(name) for field, name in env.items() if name in os.environ}


def build_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(**env_fields(WAREHOUSE_ENV)),
        "tracker": TrackerResource(**env_fields(TRACKER_ENV)),
        "google_sheets": GoogleSheetsResource(**env_fields(SHEETS_ENV)),
        "telegram": TelegramResource(**env_fields(TELEGRAM_ENV)),
    }


RESOURCES = build_resources()

# Dagster's freshness policies (evaluated by the freshness daemon that `dagster dev` and
# `dagster-daemon` run; shown on each asset) stand in for freshness checks, which Dagster
# 1.12 superseded. The reconcile schedule (02:00 UTC) materializes the issues, the current
# month's changelog partition and the history every night, the reports schedule
# (06:00 UTC) every report and the pictures: each should be younger than the window. For
# the partitioned changelog Dagster looks at its newest materialization of any partition
# (a successful changelog step), as the journal check it replaces did.
FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=get_settings().freshness_max_age_hours)
)


def with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    return dg.apply_freshness_policy(spec, FRESHNESS)


# The weekly snapshot history only changes when someone backfills it, and delivery runs
# only where it is configured: no freshness policy on either.
ASSETS = [
    *dg.map_asset_specs(with_freshness, [*TRACKER_ASSETS, *REPORT_ASSETS, report_pictures]),
    report_summary_history,
    *DELIVERY_ASSETS,
]

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=[*TRACKER_CHECKS],
    jobs=[tracker_sync_job, reports_job, pictures_job, google_sheets_job],
    sensors=[
        tracker_changes_sensor,
        google_sheets_after_reports,
        telegram_reports_sensor,
        telegram_commands_sensor,
    ],
    schedules=[tracker_reconcile_schedule, reports_schedule],
    resources=RESOURCES,
    # One process per run: the steps are sequential (each waits for the one before, and the
    # sync and report steps take turns on advisory locks), so a process per step only added
    # an interpreter start, a resource initialisation and their events to every step.
    executor=dg.in_process_executor,
)
