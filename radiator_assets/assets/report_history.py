"""The weekly snapshot history of the summary (`report_summary_history`, group `reports`).

Every product build keeps the snapshot of its UTC day, the newest build's (see
`radiator_assets.reports.history`); this asset's weekly partitions add the
snapshots of past week ends, so a backfill gives the trends a past. A
partition's as_of is the end of its week (the next Monday 00:00 UTC); its
snapshot is built into temporary tables (`radiator_assets.reports.backfill`),
so the report tables keep describing the last build. One run covers a range of
weeks (a single-run backfill policy, as the ingestion assets have: what
`dagster asset materialize --partition-range` needs), each week in its own
transaction, so the weeks done before a failure stay.

The asset is partitioned and the other reports are not, so the jobs that
rebuild the current reports leave it out (`CURRENT_REPORTS`). It carries no
freshness policy: it only changes when someone backfills. It draws nothing: the
trend chart is `report_pictures`' (downstream of it).
"""

from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from radiator_assets.assets.metadata import table_definition_metadata
from radiator_assets.assets.partitions import report_week_partitions
from radiator_assets.assets.reports import GROUP, KINDS, UPSTREAM, report_metadata
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.backfill import build_snapshot, week_end
from radiator_assets.reports.common import ReportInputs, ReportResult
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.storage.report_models import ReportSummaryHistory


class HistoryConfig(dg.Config):
    batch_size: int = 2000


@dg.asset(
    group_name=GROUP,
    deps=UPSTREAM,
    kinds=KINDS,
    partitions_def=report_week_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata=table_definition_metadata(ReportSummaryHistory.__table__),
    description=(
        "Snapshots of report_ttm_summary (and, in report_flow_history, WIP and throughput "
        "per team), one per UTC day (the newest build's); a partition adds the snapshot at "
        "its week's end. "
        "Its trend chart (TTM p85, DevLT p85 and WIP per team): report_pictures."
    ),
)
def report_summary_history(
    context: dg.AssetExecutionContext,
    config: HistoryConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    engine = warehouse.engine()
    built = [
        snapshot_of_week(context, engine, tracker.metrics_config(), key, config.batch_size)
        for key in context.partition_keys
    ]
    inputs, result = built[-1]
    weeks = {key: week.rows for key, (_, week) in zip(context.partition_keys, built, strict=True)}
    metadata: dict[str, Any] = {
        **report_metadata(result, inputs),
        "dagster/row_count": sum(weeks.values()),
        "weeks": dg.MetadataValue.json(weeks),
    }
    return dg.MaterializeResult(metadata=metadata)


def snapshot_of_week(
    context: dg.AssetExecutionContext,
    engine: Engine,
    metrics: MetricsConfig,
    key: str,
    batch_size: int,
) -> tuple[ReportInputs, ReportResult]:
    """The snapshot at the end of the week `key`, in its own transaction."""
    inputs = ReportInputs.of(metrics, week_end(key))
    result = build_snapshot(engine, inputs, batch_size=batch_size)
    context.log.info(f"week {key}: snapshot as of {inputs.as_of.isoformat()}, {result.rows} rows")
    return inputs, result


#: The reports a build replaces: the group without the partitioned history.
CURRENT_REPORTS = dg.AssetSelection.groups(GROUP) - dg.AssetSelection.assets(report_summary_history)
