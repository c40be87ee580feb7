"""Snapshots of past as_of dates: what the weekly `report_summary_history` partitions run.

The metrics are as_of-reproducible (`ReportInputs.of(config, as_of)` and the
engine hide everything after as_of), so the snapshot of a past week's end is
the one a build on that day would have kept. The product build runs in its
snapshot-only mode: the report tables stay as they are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from radiator_assets.reports.common import WEEK, ReportInputs, ReportResult, midnight
from radiator_assets.reports.history import FLOW_HISTORY, SUMMARY_HISTORY
from radiator_assets.reports.loading import DEFAULT_BATCH_SIZE
from radiator_assets.reports.product import SUMMARY, build_product_reports


def week_end(week_key: str) -> datetime:
    """The end (next Monday 00:00 UTC) of the week starting on `week_key` (`2025-03-10`)."""
    start = datetime.fromisoformat(week_key)
    return midnight(start.date()) + WEEK


def build_snapshot(
    engine: Engine, inputs: ReportInputs, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> ReportResult:
    """Replace the snapshot of `inputs.as_of`; the report tables are left as they are."""
    built = build_product_reports(engine, inputs, batch_size=batch_size, only_snapshot=True)
    summary = built[SUMMARY]
    result = ReportResult(
        SUMMARY_HISTORY.name,
        rows=summary.extra[f"{SUMMARY_HISTORY.name}_rows"],
        seconds=summary.seconds,
        preview=summary.preview,
        thresholds=summary.thresholds,
    )
    result.extra = {
        f"{FLOW_HISTORY.name}_rows": summary.extra[f"{FLOW_HISTORY.name}_rows"],
        "tasks_read": summary.extra["tasks_read"],
    }
    return result
