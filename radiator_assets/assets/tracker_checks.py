"""Asset checks on the ingestion tables, all computed in SQL with bounded output.

Duplicate checks are blocking: reports are not built on duplicated history.
Checks are unpartitioned (per-partition checks break single-run range
backfills); each validates the table as the run leaves it. Freshness is not a
check here: Dagster's own freshness policies watch it (`definitions.py`).
"""

import dagster as dg

from radiator_assets.assets.tracker import tracker_changelog, tracker_issues, tracker_task_history
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.storage import quality


def _result(finding: quality.Finding, what: str, **kw: object) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=finding.ok,
        description=f"{finding.count} {what}",
        metadata={"count": finding.count, "sample": dg.MetadataValue.json(finding.sample)},
        **kw,  # type: ignore[arg-type]
    )


@dg.asset_check(
    asset=tracker_task_history,
    blocking=True,
    description="No two stays share (task_id, status, start_date).",
)
def history_has_no_duplicate_stays(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as conn:
        return _result(quality.duplicate_stays(conn), "duplicated stays")


@dg.asset_check(
    asset=tracker_changelog, blocking=True, description="No two changelog rows share an id."
)
def changelog_has_no_duplicate_ids(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as conn:
        return _result(quality.duplicate_changelog_ids(conn), "duplicated entry ids")


@dg.asset_check(
    asset=tracker_task_history,
    description="Each task's stays do not overlap, at most one is open, every row's task exists.",
)
def history_is_continuous(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as conn:
        overlapping = quality.overlapping_stays(conn)
        several_open = quality.tasks_with_several_open_stays(conn)
        orphans = quality.orphan_history_rows(conn)
    passed = overlapping.ok and several_open.ok and orphans.ok
    return dg.AssetCheckResult(
        passed=passed,
        description=(
            f"{overlapping.count} overlapping stays, {several_open.count} tasks with several "
            f"open stays, {orphans.count} rows without a task"
        ),
        metadata={
            "overlapping_stays": overlapping.count,
            "overlapping_sample": dg.MetadataValue.json(overlapping.sample),
            "tasks_with_several_open_stays": several_open.count,
            "several_open_sample": dg.MetadataValue.json(several_open.sample),
            "orphan_rows": orphans.count,
            "orphan_sample": dg.MetadataValue.json(orphans.sample),
        },
    )


@dg.asset_check(
    asset=tracker_task_history,
    description="Every status in the history is in the metrics configuration (warning).",
)
def history_statuses_are_configured(
    warehouse: WarehouseResource, tracker: TrackerResource
) -> dg.AssetCheckResult:
    config = tracker.metrics_config()
    with warehouse.engine().connect() as conn:
        statuses = quality.distinct_statuses(conn)
    unknown = [
        {"status": name, "key": key, "stays": stays}
        for name, key, stays in statuses
        if not (config.is_known(name) or config.is_known(key))
    ]
    return dg.AssetCheckResult(
        passed=not unknown,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "all statuses are configured"
            if not unknown
            else f"{len(unknown)} unknown status(es), treated as discovery: "
            + ", ".join(u["status"] for u in unknown)
        ),
        metadata={"unknown_statuses": dg.MetadataValue.json(unknown)},
    )


def _quarantine_result(warehouse: WarehouseResource, kind: str) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as conn:
        found = quality.open_quarantine(conn, kind)
    examples = "; ".join(f"{r['key'] or r['ref']}: {r['reason']}" for r in found.sample[:2])
    return _result(
        found,
        f"{kind} record(s) in quarantine (retried by every sync)"
        + (f", e.g. {examples}" if examples else ""),
        severity=dg.AssetCheckSeverity.WARN,
    )


@dg.asset_check(
    asset=tracker_issues,
    description="No issue payload waits in the quarantine (warning: the rest is stored).",
)
def issues_quarantine_is_empty(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _quarantine_result(warehouse, "issue")


@dg.asset_check(
    asset=tracker_changelog,
    description="No issue's changelog waits in the quarantine (warning: the rest is stored).",
)
def changelog_quarantine_is_empty(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _quarantine_result(warehouse, "changelog")


TRACKER_CHECKS = [
    issues_quarantine_is_empty,
    changelog_quarantine_is_empty,
    history_has_no_duplicate_stays,
    changelog_has_no_duplicate_ids,
    history_is_continuous,
    history_statuses_are_configured,
]
