"""The report pictures (`report_pictures`, group `reports`): every PNG drawn from the
committed report tables, an asset of its own.

Drawing is not a table's job: the tables are rebuilt (incrementally, in a second or
two) by every `tracker_sync` run the sensor starts, while the pictures take about 3 s
and their inputs move on nearly every sync (the ages of open work). So the sensor's
`tracker_sync` job builds tables only, and the pictures are drawn by the daily `reports`
run (after the tables, in the same run), on demand (`dagster asset materialize --select
report_pictures`, `radiator pictures`), and before a Telegram delivery
(`telegram_reports_sensor` requests a `report_pictures` run when the newest tables are
newer than the newest pictures). Google Sheets carry no picture.

A picture whose inputs did not change is kept (see `radiator_assets.reports.pictures`);
the metadata lists every picture, redrawn or kept, with its path and the PNG embedded.
"""

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import dagster as dg

from radiator_assets.assets.metadata import timing_metadata
from radiator_assets.assets.report_history import CURRENT_REPORTS, report_summary_history
from radiator_assets.assets.reports import (
    GROUP,
    markdown_table,
    parse_as_of,
    picture_metadata,
    product_reports,
    report_status_activity,
    run_start,
)
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.drawing import DrawnPicture, draw_report_pictures, tables_as_of
from radiator_assets.resources import TrackerResource, WarehouseResource

ASSET_NAME = "report_pictures"


class PicturesConfig(dg.Config):
    """`as_of`: an ISO timestamp (UTC unless it says otherwise) the pictures show.
    Default: the as_of of the product reports' last build (what the tables describe:
    a picture drawn hours after a sync shows the sync's as_of), else the configuration
    file's, else the run's start."""

    as_of: str | None = None


def pictures_metadata(drawn: Sequence[DrawnPicture], as_of: datetime) -> dict[str, Any]:
    """A row per picture (redrawn or kept), then each picture's path and embedded PNG."""
    rows = [
        {
            "picture": p.name,
            "report": p.report,
            "file": p.path.name,
            "drawn": "redrawn" if p.redrawn else "kept",
        }
        for p in drawn
    ]
    metadata: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "pictures": dg.MetadataValue.md(markdown_table(rows)),
        "redrawn": sum(p.redrawn for p in drawn),
        "kept": sum(not p.redrawn for p in drawn),
    }
    for picture in drawn:
        metadata.update(picture_metadata(picture.name, str(picture.path)))
    return metadata


@dg.asset(
    name=ASSET_NAME,
    group_name=GROUP,
    deps=[*product_reports.keys, report_status_activity, report_summary_history],
    kinds={"python"},
    description=(
        "Every report picture, drawn from the committed report tables under "
        "$RADIATOR_HOME/reports: TTM heatmaps (p85, median, mean, with a WiP column), "
        "cumulative flow, aging WIP, status activity table, trends. Not in the sensor's "
        "tracker_sync job (tables only): the daily reports run draws them, so do "
        "`dagster asset materialize --select report_pictures` and `radiator pictures`, and "
        "the Telegram delivery before it sends them. A picture whose inputs did not "
        "change is kept."
    ),
)
def report_pictures(
    context: dg.AssetExecutionContext,
    config: PicturesConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    engine = warehouse.engine()
    metrics = tracker.metrics_config()
    given = parse_as_of(config.as_of) if config.as_of else None
    as_of = given or tables_as_of(engine) or metrics.resolve_as_of(run_start(context))
    context.log.info(f"pictures as of {as_of.isoformat()}")
    started = time.perf_counter()
    drawn = draw_report_pictures(
        engine, ReportInputs.of(metrics, as_of), tracker.settings().reports_dir
    )
    metadata = pictures_metadata(drawn, as_of)
    metadata.update(timing_metadata({"draw": time.perf_counter() - started}))
    return dg.MaterializeResult(metadata=metadata)


#: The current report tables: what every build (the sensor's `tracker_sync` runs)
#: replaces, without the pictures (drawn by the daily `reports` run and on demand).
CURRENT_REPORT_TABLES = CURRENT_REPORTS - dg.AssetSelection.assets(report_pictures)
