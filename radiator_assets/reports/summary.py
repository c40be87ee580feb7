"""report_ttm_summary: finished tasks per (period, team) and per (period, lead).

Read back from report_ttm_details (finished rows with a period) in the same
transaction that wrote it, one group at a time (rows ordered by the group), and
summarised by `radiator_assets.metrics.aggregate.summarize`: count, mean,
median, p85 (linear interpolation), max, and how many are over the threshold.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.metrics.aggregate import summarize
from radiator_assets.reports.common import ReportInputs, ReportResult
from radiator_assets.reports.writing import TableWriter
from radiator_assets.storage.report_models import ReportTtmSummary

TABLE = ReportTtmSummary.__table__
METRICS = ("ttm", "ttd", "tail", "devlt", "pause")
DIMENSIONS = ("team", "lead")
HIGHLIGHTED = ("ttm", "ttd", "tail", "devlt")


def summary_row(
    period: str, dimension: str, name: str, rows: list[Any], inputs: ReportInputs
) -> dict[str, Any]:
    thresholds = inputs.config.thresholds
    starts = {p.name: p.start for p in inputs.config.periods}
    out: dict[str, Any] = {
        "period": period,
        "dimension": dimension,
        "name": name,
        "period_start": starts.get(period),
        "tasks": len(rows),
    }
    for metric in METRICS:
        limit = thresholds.for_metric(metric)
        stats = summarize((getattr(r, metric) for r in rows), threshold=limit)
        out[f"{metric}_count"] = stats.count
        out[f"{metric}_mean"] = stats.mean
        out[f"{metric}_median"] = stats.median
        out[f"{metric}_p85"] = stats.p85
        out[f"{metric}_max"] = None if stats.max is None else int(stats.max)
        if metric in HIGHLIGHTED:
            out[f"{metric}_over"] = stats.over_threshold or 0
    return out


def build_summary(conn: Connection, inputs: ReportInputs) -> ReportResult:
    """Replace report_ttm_summary from the report_ttm_details rows visible to `conn`."""
    writer = TableWriter(conn, TABLE)
    crossed: dict[str, int] = {}
    preview: list[dict[str, Any]] = []
    thresholds = inputs.config.thresholds
    for dimension in DIMENSIONS:
        rows = conn.execute(
            sa.text(
                f"SELECT period, {dimension} AS name, {', '.join(METRICS)} "
                "FROM report_ttm_details WHERE finished AND period IS NOT NULL "
                f"ORDER BY period, {dimension}"
            )
        )
        for (period, name), group in groupby(rows, key=lambda r: (r.period, r.name)):
            row = summary_row(period, dimension, name, list(group), inputs)
            writer.write_dict(row)
            if dimension == "team":
                preview.append(row)
            for metric in HIGHLIGHTED:
                limit = thresholds.for_metric(metric)
                value = row[f"{metric}_p85"]
                if limit is not None and value is not None and value > limit:
                    label = f"{metric} p85 > {limit}"
                    crossed[label] = crossed.get(label, 0) + 1
    result = ReportResult(TABLE.name, rows=writer.close())
    order = {p.name: i for i, p in enumerate(inputs.config.periods)}
    preview.sort(key=lambda r: (-order.get(r["period"], -1), r["name"]))
    result.preview = [
        {
            k: r[k]
            for k in ("period", "name", "tasks", "ttm_median", "ttm_p85", "tail_p85", "devlt_p85")
        }
        for r in preview[:20]
    ]
    result.thresholds = crossed
    return result
