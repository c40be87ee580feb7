"""Asset checks on the ingestion tables, all computed in SQL with bounded output.

Duplicate checks are blocking: reports are not built on duplicated history.
Checks are unpartitioned (per-partition checks break single-run range
backfills); each validates the table as the run leaves it. Freshness is not a
check here: Dagster's own freshness policies watch it (`definitions.py`).

The checks of one asset run in one step (`multi_asset_check`): every step
costs a run about a dozen events in Dagster's storage, and these queries are
cheap; the UI still shows, runs and reports each check by its own name.
"""

from collections.abc import Iterator

import dagster as dg
from sqlalchemy.engine import Connection

from radiator_assets.assets.tracker import tracker_changelog, tracker_issues, tracker_task_history
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.storage import quality

HISTORY_NO_DUPLICATES = dg.AssetCheckSpec(
    "history_has_no_duplicate_stays",
    asset=tracker_task_history,
    blocking=True,
    description="No two stays share (task_id, status, start_date).",
)
HISTORY_CONTINUOUS = dg.AssetCheckSpec(
    "history_is_continuous",
    asset=tracker_task_history,
    description="Each task's stays do not overlap, at most one is open, every row's task exists.",
)
HISTORY_STATUSES = dg.AssetCheckSpec(
    "history_statuses_are_configured",
    asset=tracker_task_history,
    description="Every status in the history is in the metrics configuration (warning).",
)
CHANGELOG_NO_DUPLICATES = dg.AssetCheckSpec(
    "changelog_has_no_duplicate_ids",
    asset=tracker_changelog,
    blocking=True,
    description="No two changelog rows share an id.",
)
CHANGELOG_QUARANTINE = dg.AssetCheckSpec(
    "changelog_quarantine_is_empty",
    asset=tracker_changelog,
    description="No issue's changelog waits in the quarantine (warning: the rest is stored).",
)
ISSUES_QUARANTINE = dg.AssetCheckSpec(
    "issues_quarantine_is_empty",
    asset=tracker_issues,
    description="No issue payload waits in the quarantine (warning: the rest is stored).",
)


def _result(
    spec: dg.AssetCheckSpec, finding: quality.Finding, what: str, **kw: object
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=spec.name,
        asset_key=spec.asset_key,
        passed=finding.ok,
        description=f"{finding.count} {what}",
        metadata={"count": finding.count, "sample": dg.MetadataValue.json(finding.sample)},
        **kw,  # type: ignore[arg-type]
    )


def history_is_continuous(conn: Connection) -> dg.AssetCheckResult:
    overlapping = quality.overlapping_stays(conn)
    several_open = quality.tasks_with_several_open_stays(conn)
    orphans = quality.orphan_history_rows(conn)
    passed = overlapping.ok and several_open.ok and orphans.ok
    return dg.AssetCheckResult(
        check_name=HISTORY_CONTINUOUS.name,
        asset_key=HISTORY_CONTINUOUS.asset_key,
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


def history_statuses_are_configured(conn: Connection, config: MetricsConfig) -> dg.AssetCheckResult:
    statuses = quality.distinct_statuses(conn)
    unknown = [
        {"status": name, "key": key, "stays": stays}
        for name, key, stays in statuses
        if not (config.is_known(name) or config.is_known(key))
    ]
    return dg.AssetCheckResult(
        check_name=HISTORY_STATUSES.name,
        asset_key=HISTORY_STATUSES.asset_key,
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


def _quarantine_result(spec: dg.AssetCheckSpec, conn: Connection, kind: str) -> dg.AssetCheckResult:
    found = quality.open_quarantine(conn, kind)
    examples = "; ".join(f"{r['key'] or r['ref']}: {r['reason']}" for r in found.sample[:2])
    return _result(
        spec,
        found,
        f"{kind} record(s) in quarantine (retried by every sync)"
        + (f", e.g. {examples}" if examples else ""),
        severity=dg.AssetCheckSeverity.WARN,
    )


@dg.multi_asset_check(specs=[ISSUES_QUARANTINE], name="tracker_issues_checks")
def tracker_issues_checks(warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
    with warehouse.engine().connect() as conn:
        yield _quarantine_result(ISSUES_QUARANTINE, conn, "issue")


@dg.multi_asset_check(
    specs=[CHANGELOG_NO_DUPLICATES, CHANGELOG_QUARANTINE], name="tracker_changelog_checks"
)
def tracker_changelog_checks(warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
    with warehouse.engine().connect() as conn:
        duplicates = quality.duplicate_changelog_ids(conn)
        yield _result(CHANGELOG_NO_DUPLICATES, duplicates, "duplicated entry ids")
        yield _quarantine_result(CHANGELOG_QUARANTINE, conn, "changelog")


@dg.multi_asset_check(
    specs=[HISTORY_NO_DUPLICATES, HISTORY_CONTINUOUS, HISTORY_STATUSES],
    name="tracker_task_history_checks",
)
def tracker_task_history_checks(
    warehouse: WarehouseResource, tracker: TrackerResource
) -> Iterator[dg.AssetCheckResult]:
    config = tracker.metrics_config()
    with warehouse.engine().connect() as conn:
        duplicates = quality.duplicate_stays(conn)
        yield _result(HISTORY_NO_DUPLICATES, duplicates, "duplicated stays")
        yield history_is_continuous(conn)
        yield history_statuses_are_configured(conn, config)


TRACKER_CHECKS = [tracker_issues_checks, tracker_changelog_checks, tracker_task_history_checks]
