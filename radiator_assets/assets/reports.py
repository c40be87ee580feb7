"""Report assets (group `reports`): the delivery-metric tables.

The bodies are thin: they resolve `as_of` and the metrics configuration, call
the builders of `radiator_assets.reports`, and turn what they return into
metadata: row count, column schema, timings, a Markdown preview of the top rows,
the thresholds crossed. They draw nothing: the pictures are the `report_pictures`
asset's (`radiator_assets.assets.report_pictures`), which `picture_metadata` here
serves (path, plus the PNG embedded in Markdown so it shows in the UI in one click).

`product_reports` is one multi-asset for report_ttm_details, report_ttm_summary,
report_flow_weekly and report_aging_wip: they need the engine's metrics of every
product task, computed once in one pass, and are replaced in one transaction.
The report tables have one automation path: every `tracker_sync` run (the sensor's,
the nightly reconciliation's, `radiator sync`'s) builds them after the history,
and `as_of` defaults to the run's start, so the daily `reports` run (see
`radiator_assets.automation.report_schedules`) keeps ages and unfinished TTMs
current on quiet days. No automation condition: Dagster's automation-condition
sensor stays off, so nothing here claims to be eager.
"""

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from radiator_assets.assets.metadata import table_definition_metadata, timing_metadata
from radiator_assets.assets.tracker import tracker_issues, tracker_task_history
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.activity import build_status_activity
from radiator_assets.reports.common import ReportInputs, ReportResult
from radiator_assets.reports.product import AGING, DETAILS, FLOW, SUMMARY, build_product_reports
from radiator_assets.reports.returns import build_testing_returns
from radiator_assets.reports.subepic_returns import build_subepic_returns
from radiator_assets.reports.time_in_status import build_time_in_status
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.storage.report_models import REPORT_TABLES

GROUP = "reports"
KINDS = {"postgres", "python"}
UPSTREAM = [tracker_task_history, tracker_issues]
MAX_EMBEDDED_PNG_BYTES = 3_000_000


class ReportConfig(dg.Config):
    """`as_of`: an ISO timestamp (UTC unless it says otherwise) the reports describe;
    it overrides the configuration file's `as_of`. Default: the run's start.
    `full_rebuild`: the report recomputes every task instead of only the changed ones
    (incremental builds: `reports.changes`; the daily `reports` schedule sets it for
    every report asset)."""

    as_of: str | None = None
    batch_size: int = 2000
    full_rebuild: bool = False


def parse_as_of(value: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def run_start(context: dg.AssetExecutionContext) -> datetime:
    """When this run started (UTC); now when the instance does not know."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    if record is not None and record.start_time:
        return datetime.fromtimestamp(record.start_time, UTC)
    return datetime.now(UTC)


def report_inputs(
    context: dg.AssetExecutionContext, config: ReportConfig, metrics: MetricsConfig
) -> ReportInputs:
    given = parse_as_of(config.as_of) if config.as_of else None
    as_of = given or metrics.resolve_as_of(run_start(context))
    context.log.info(f"reports as of {as_of.isoformat()}")
    return ReportInputs.of(metrics, as_of)


# --------------------------------------------------------------------------- metadata


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of `rows` (columns of the first row)."""
    if not rows:
        return "_no rows_"
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def picture_metadata(name: str, path: str) -> dict[str, Any]:
    """The picture as a path, and embedded in Markdown (a data URI) for one-click viewing."""
    out: dict[str, Any] = {f"picture_{name}": dg.MetadataValue.path(path)}
    data = Path(path).read_bytes()
    if len(data) <= MAX_EMBEDDED_PNG_BYTES:
        encoded = base64.b64encode(data).decode("ascii")
        out[name] = dg.MetadataValue.md(f"![{name}](data:image/png;base64,{encoded})")
    return out


def report_metadata(result: ReportResult, inputs: ReportInputs) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "dagster/row_count": result.rows,
        "as_of": inputs.as_of.isoformat(),
        "preview": dg.MetadataValue.md(markdown_table(result.preview)),
        "thresholds_crossed": dg.MetadataValue.json(result.thresholds),
        **timing_metadata(result.seconds),
    }
    for key, value in result.extra.items():
        metadata[key] = value if isinstance(value, int | float | str) else str(value)
    return metadata


def _spec(name: str, description: str, deps: Sequence[Any] = ()) -> dg.AssetSpec:
    return dg.AssetSpec(
        name,
        group_name=GROUP,
        deps=[*UPSTREAM, *deps],
        kinds=KINDS,
        description=description,
        metadata=table_definition_metadata(REPORT_TABLES[name]),
    )


# --------------------------------------------------------------------------- assets


@dg.multi_asset(
    name="product_reports",
    specs=[
        _spec(
            DETAILS,
            "One row per product task finished in a period, or unfinished and past discovery: "
            "TTM, TTD, Tail, DevLT, pauses, returns, dates, flags.",
        ),
        _spec(
            SUMMARY,
            "Finished tasks per (period, team) and (period, lead): count, mean, median, p85, "
            "max of TTM, TTD, Tail, DevLT and pause; over-threshold counts (heatmaps: "
            "report_pictures).",
        ),
        _spec(
            FLOW,
            "Per week and team: arrivals, throughput, WIP and tasks per status block at the "
            "week's end (cumulative flow; its diagram: report_pictures).",
        ),
        _spec(
            AGING,
            "Open product tasks: age in the current status and since work started, against "
            "the team's p85 for that status (its scatter: report_pictures).",
        ),
    ],
    can_subset=False,
)
def product_reports(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
):
    inputs = report_inputs(context, config, tracker.metrics_config())
    results = build_product_reports(
        warehouse.engine(),
        inputs,
        full=config.full_rebuild,
        batch_size=config.batch_size,
    )
    for name in (DETAILS, SUMMARY, FLOW, AGING):
        yield dg.MaterializeResult(asset_key=name, metadata=report_metadata(results[name], inputs))


@dg.asset(
    group_name=GROUP,
    deps=UPSTREAM,
    kinds=KINDS,
    metadata=table_definition_metadata(REPORT_TABLES["report_status_activity"]),
    description=(
        "Product-queue status changes in the last full week and the week before, per author "
        "and per team, with the trend; open tasks in discovery and delivery (its table "
        "picture with trend arrows: report_pictures)."
    ),
)
def report_status_activity(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    inputs = report_inputs(context, config, tracker.metrics_config())
    # always built whole (cheap: see `build_status_activity`), `full_rebuild` changes nothing
    result = build_status_activity(warehouse.engine(), inputs)
    return dg.MaterializeResult(metadata=report_metadata(result, inputs))


@dg.asset(
    group_name=GROUP,
    deps=UPSTREAM,
    kinds=KINDS,
    metadata=table_definition_metadata(REPORT_TABLES["report_time_in_status"]),
    description=(
        "Every task of every synced queue: days in each status (raw history), current "
        "status and since when."
    ),
)
def report_time_in_status(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    inputs = report_inputs(context, config, tracker.metrics_config())
    result = build_time_in_status(warehouse.engine(), inputs, full=config.full_rebuild)
    return dg.MaterializeResult(metadata=report_metadata(result, inputs))


@dg.asset(
    group_name=GROUP,
    deps=UPSTREAM,
    kinds=KINDS,
    metadata=table_definition_metadata(REPORT_TABLES["report_testing_returns"]),
    description=(
        "Returns into each workflow status (in progress, review, testing, external test, "
        "approval, regression, done) per implementation-queue task and per epic."
    ),
)
def report_testing_returns(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    inputs = report_inputs(context, config, tracker.metrics_config())
    result = build_testing_returns(
        warehouse.engine(), inputs, batch_size=config.batch_size, full=config.full_rebuild
    )
    return dg.MaterializeResult(metadata=report_metadata(result, inputs))


@dg.asset(
    group_name=GROUP,
    deps=UPSTREAM,
    kinds=KINDS,
    metadata=table_definition_metadata(REPORT_TABLES["report_subepic_returns"]),
    description=(
        "Returns into each workflow status per implementation-queue task created since "
        "subepic_returns.start_date, with author, epic, the epic's team, month and quarter."
    ),
)
def report_subepic_returns(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    inputs = report_inputs(context, config, tracker.metrics_config())
    result = build_subepic_returns(
        warehouse.engine(), inputs, batch_size=config.batch_size, full=config.full_rebuild
    )
    return dg.MaterializeResult(metadata=report_metadata(result, inputs))


REPORT_ASSETS = [
    product_reports,
    report_status_activity,
    report_time_in_status,
    report_testing_returns,
    report_subepic_returns,
]
