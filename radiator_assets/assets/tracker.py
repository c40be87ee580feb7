"""Ingestion assets (group `tracker`): issue snapshots, changelog events, status history.

The bodies are thin: each takes the sync lock, calls the write path in
`radiator_assets.sync`, journals the step in `tracker_sync_runs`, and reports
what it did as metadata. `radiator sync` materializes these same assets.
"""

from datetime import UTC, datetime, timedelta
from typing import Literal

import dagster as dg

from radiator_assets.assets.metadata import api_metadata, table_metadata, timing_metadata
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.storage.models import TrackerChangelogEntry, TrackerTask, TrackerTaskHistory
from radiator_assets.sync.changelog import ChangelogSyncIncomplete, sync_changelogs
from radiator_assets.sync.history import build_history
from radiator_assets.sync.issues import sync_issues
from radiator_assets.sync.sync_runs import journal

GROUP = "tracker"
SYNC_POOL = "tracker_sync"
# Chosen once: Tracker's changelog dates fall after this; partitions are UTC days.
PARTITIONS_START = "2017-01-01"
changelog_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START, end_offset=1, timezone="UTC"
)
SINGLE_RUN = dg.BackfillPolicy.single_run()


class IssuesConfig(dg.Config):
    """How much of Tracker to list this time."""

    mode: Literal["incremental", "full", "reconcile"] = "incremental"
    since: str | None = None  # ISO date or timestamp (UTC); overrides the stored high-water mark


class ChangelogConfig(dg.Config):
    """`refetch` re-reads the whole changelog of every issue updated in the partition window."""

    refetch: bool = False


def _parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dg.asset(
    group_name=GROUP,
    pool=SYNC_POOL,
    backfill_policy=SINGLE_RUN,
    kinds={"postgres", "python"},
    description="Tracker issues matching TRACKER_QUERY, upserted by stable id (snapshot).",
)
def tracker_issues(
    context: dg.AssetExecutionContext,
    config: IssuesConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    engine = warehouse.engine()
    settings = tracker.settings()
    with (
        journal(engine, f"issues:{config.mode}", context.run.run_id) as tally,
        tracker.client() as client,
    ):
        result = sync_issues(
            engine,
            client,
            base_query=settings.tracker_query,
            fields=tracker.custom_fields(),
            mode=config.mode,
            overlap=timedelta(minutes=settings.sync_overlap_minutes),
            since=_parse_since(config.since),
            batch_size=settings.sync_batch_size,
            progress=lambda r: context.log.info(f"issues: {r.seen} seen, {r.batches} batches"),
            lock_wait_seconds=settings.sync_lock_wait_seconds,
        )
        traffic = client.counters.snapshot()
        tally.tasks_written = result.inserted + result.updated
        tally.api_requests = int(traffic["requests"])
        tally.high_water_mark = result.high_water_mark
    context.log.info(
        f"issues ({result.mode}): {result.inserted} new, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.marked_deleted} marked deleted"
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(engine, TrackerTask.__table__),
            "mode": result.mode,
            "query": result.query,
            "issues_seen": result.seen,
            "rows_inserted": result.inserted,
            "rows_updated": result.updated,
            "rows_unchanged": result.unchanged,
            "issues_moved": result.moved,
            "issues_marked_deleted": result.marked_deleted,
            "high_water_mark": str(result.high_water_mark),
            "previous_high_water_mark": str(result.previous_high_water_mark),
            **timing_metadata(result.seconds),
            **api_metadata(traffic),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[tracker_issues],
    partitions_def=changelog_partitions,
    backfill_policy=SINGLE_RUN,
    pool=SYNC_POOL,
    kinds={"postgres", "python"},
    description=(
        "Changelog entries (immutable events), partitioned by the day of their update. "
        "Fetched after each issue's last_changelog_id for issues whose snapshot changed."
    ),
)
def tracker_changelog(
    context: dg.AssetExecutionContext,
    config: ChangelogConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    engine = warehouse.engine()
    settings = tracker.settings()
    window = context.partition_time_window
    with (
        journal(engine, "changelog", context.run.run_id) as tally,
        tracker.client() as client,
    ):
        try:
            result = sync_changelogs(
                engine,
                client,
                # Every pending issue is synced whatever the window (a narrow partition
                # must never leave older news behind); refetch re-reads the window's issues.
                updated_from=window.start if config.refetch else None,
                refetch=config.refetch,
                progress=lambda r: context.log.debug(
                    f"changelog: {r.tasks_fetched}/{r.tasks_pending} issues, "
                    f"{r.entries_inserted} entries stored"
                ),
                lock_wait_seconds=settings.sync_lock_wait_seconds,
            )
        except ChangelogSyncIncomplete as exc:
            tally.entries_written = exc.result.entries_inserted
            raise dg.Failure(
                description=str(exc),
                metadata={
                    "issues_failed": len(exc.result.failures),
                    "entries_inserted": exc.result.entries_inserted,
                },
            ) from exc
        traffic = client.counters.snapshot()
        tally.entries_written = result.entries_inserted
        tally.api_requests = int(traffic["requests"])
    in_window = {
        day.isoformat(): n
        for day, n in sorted(result.entries_by_day.items())
        if window.start.date() <= day < window.end.date()
    }
    outside = sum(result.entries_by_day.values()) - sum(in_window.values())
    return dg.MaterializeResult(
        metadata={
            **table_metadata(engine, TrackerChangelogEntry.__table__),
            "window": f"{window.start.date()}..{(window.end - timedelta(days=1)).date()}",
            "issues_pending": result.tasks_pending,
            "issues_with_new_entries": result.tasks_with_new_entries,
            "issues_gone": result.tasks_gone,
            "entries_fetched": result.entries_fetched,
            "rows_inserted": result.entries_inserted,
            "rows_unchanged": result.entries_already_stored,
            "entries_outside_window": outside,
            "entries_per_day": dg.MetadataValue.json(in_window),
            **timing_metadata(result.seconds),
            **api_metadata(traffic),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[tracker_changelog],
    backfill_policy=SINGLE_RUN,
    pool=SYNC_POOL,
    kinds={"postgres", "sql"},
    description="Status stays derived from the changelog; rebuilt for tasks with new entries.",
)
def tracker_task_history(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, tracker: TrackerResource
) -> dg.MaterializeResult:
    engine = warehouse.engine()
    settings = tracker.settings()
    with (
        journal(engine, "history", context.run.run_id) as tally,
    ):
        result = build_history(engine, lock_wait_seconds=settings.sync_lock_wait_seconds)
        tally.history_written = result.stays_written
    context.log.info(
        f"history: {result.tasks_rebuilt} tasks rebuilt, {result.stays_written} stays written"
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(engine, TrackerTaskHistory.__table__),
            "tasks_touched": result.tasks_rebuilt,
            "rows_deleted": result.stays_deleted,
            "rows_inserted": result.stays_written,
            "batches": result.batches,
            **timing_metadata(result.seconds),
        }
    )


TRACKER_ASSETS = [tracker_issues, tracker_changelog, tracker_task_history]
