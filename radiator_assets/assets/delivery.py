"""Delivery assets (group `delivery`): the reports published where people read them.

`google_sheets_reports` is downstream of every report table and runs in its own job
(`google_sheets`, started by `radiator_assets.automation.delivery_sensors` after a
successful sync or reports run), so a failure to publish never fails or rolls back a
report: the report tables are committed before, by another run. Unconfigured, it
records a materialization whose metadata says why nothing was published (`skipped`),
so the UI shows the reason on the asset; the sensor that starts it skips with the same
reason and starts nothing. Metadata never carries the credentials (nor their path).
A sheet that fails does not stop the others: they are published, then the step fails
naming the failed ones, with the published ones' metadata on the failure.
"""

from typing import Any

import dagster as dg

from radiator_assets.delivery.deliver import sheet_contents
from radiator_assets.delivery.sheets_api import (
    Published,
    PublishError,
    publish,
    spreadsheet_url,
)
from radiator_assets.resources import GoogleSheetsResource, TrackerResource, WarehouseResource
from radiator_assets.storage.report_models import REPORT_TABLES

GROUP = "delivery"
SHEETS_POOL = "google_sheets"


def published_metadata(spreadsheet_id: str, sheets: list[Published]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "spreadsheet_url": dg.MetadataValue.url(spreadsheet_url(spreadsheet_id)),
        "dagster/row_count": sum(s.rows for s in sheets),
    }
    for sheet in sheets:
        metadata[f"rows_{sheet.title}"] = sheet.rows
        metadata[f"url_{sheet.title}"] = dg.MetadataValue.url(sheet.url)
    return metadata


@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetKey(name) for name in REPORT_TABLES],
    kinds={"googlesheets", "python"},
    # publishes take turns (the instance's default pool limit, 1): two runs never swap
    # the same sheet at once, whether a sensor, the UI or a backfill started them
    pool=SHEETS_POOL,
    description=(
        "Each selected report on its own sheet of the configured spreadsheet (Tracker keys "
        "linked, header filter, values over thresholds highlighted) and the TTM/TTD pivots "
        "(count, median, p85 per team and period); each sheet replaced in one step."
    ),
)
def google_sheets_reports(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
    google_sheets: GoogleSheetsResource,
) -> dg.MaterializeResult:
    settings = google_sheets.settings()
    reason = settings.sheets_off()
    if reason is not None:
        context.log.info(reason)
        return dg.MaterializeResult(metadata={"skipped": reason, "dagster/row_count": 0})
    assert settings.sheets_spreadsheet_id is not None
    contents = sheet_contents(
        warehouse.engine(),
        tracker.metrics_config(),
        settings.sheets_reports,
        settings.tracker_web_url,
    )
    try:
        sheets = publish(google_sheets.publisher(), contents)
    except PublishError as exc:
        # the sheets that did publish are listed on the failure, as on a success
        raise dg.Failure(
            description=str(exc),
            metadata=published_metadata(settings.sheets_spreadsheet_id, exc.published),
        ) from None
    return dg.MaterializeResult(metadata=published_metadata(settings.sheets_spreadsheet_id, sheets))


DELIVERY_ASSETS = [google_sheets_reports]
