"""Ingestion assets (group `tracker`): issue snapshots, changelog events, status history.

The bodies are thin: each takes the sync lock and journals the step
(`sync_step`), calls the write path in `radiator_assets.sync` through the
locked writer, and reports what it did as metadata. Records the write path
cannot store are quarantined, counted here and shown by the quarantine
checks; they never fail the step. `radiator sync` materializes these same
assets.
"""

from datetime import UTC, datetime, timedelta
from typing import Literal

import dagster as dg

from radiator_assets.assets.metadata import api_metadata, table_metadata, timing_metadata
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.settings import get_settings
from radiator_assets.storage.models import TrackerChangelogEntry, TrackerTask, TrackerTaskHistory
from radiator_assets.sync.changelog import ChangelogSyncResult, sync_changelogs
from radiator_assets.sync.history import build_history
from radiator_assets.sync.issues import IssueSyncResult, sync_issues
from radiator_assets.sync.sync_runs import SyncRunTally, sync_step

GROUP = "tracker"
SYNC_POOL = "tracker_sync"
# Partitions are UTC days from RADIATOR_HISTORY_START (the organisation's first day).
changelog_partitions = dg.DailyPartitionsDefinition(
    start_date=get_settings().history_start.isoformat(), end_offset=1, timezone="UTC"
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
        sync_step(
            engine,
            f"issues:{config.mode}",
            context.run.run_id,
            lock_wait_seconds=settings.sync_lock_wait_seconds,
        ) as step,
        tracker.client() as client,
    ):

        def progress(tally: SyncRunTally, r: IssueSyncResult) -> None:
            tally.tasks_written = r.inserted + r.updated
            tally.api_requests = int(client.counters["requests"])
            context.log.debug(f"issues: {r.seen} seen, {r.batches} batches")

        result = sync_issues(
            step.writer,
            client,
            base_query=settings.tracker_query,
            fields=tracker.custom_fields(),
            mode=config.mode,
            overlap=timedelta(minutes=settings.sync_overlap_minutes),
            since=_parse_since(config.since),
            batch_size=settings.sync_batch_size,
            progress=step.progress(progress),
        )
        traffic = client.counters.snapshot()
        step.tally.tasks_written = result.inserted + result.updated
        step.tally.api_requests = int(traffic["requests"])
        step.tally.high_water_mark = result.high_water_mark
    context.log.info(
        f"issues ({result.mode}): {result.inserted} new, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.quarantined} quarantined, "
        f"{result.marked_deleted} deleted in Tracker, {result.out_of_query} out of the query"
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
            "issues_quarantined": result.quarantined,
            "issues_recovered_from_quarantine": result.recovered,
            "issues_marked_deleted": result.marked_deleted,
            "issues_out_of_query": result.out_of_query,
            "high_water_mark": str(result.high_water_mark),
            "previous_high_water_mark": str(result.previous_high_water_mark),
            **timing_metadata({**result.seconds, "lock_wait": step.writer.waited_seconds}),
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
        sync_step(
            engine,
            "changelog",
            context.run.run_id,
            lock_wait_seconds=settings.sync_lock_wait_seconds,
        ) as step,
        tracker.client() as client,
    ):

        def progress(tally: SyncRunTally, r: ChangelogSyncResult) -> None:
            tally.entries_written = r.entries_inserted
            tally.api_requests = int(client.counters["requests"])

        result = sync_changelogs(
            step.writer,
            client,
            # Every pending issue is synced whatever the window (a narrow partition
            # must never leave older news behind); refetch re-reads the window's issues.
            updated_from=window.start if config.refetch else None,
            refetch=config.refetch,
            progress=step.progress(progress),
        )
        traffic = client.counters.snapshot()
        step.tally.entries_written = result.entries_inserted
        step.tally.api_requests = int(traffic["requests"])
    if result.failures:
        sample = "; ".join(f"{k}: {v}" for k, v in list(result.failures.items())[:5])
        context.log.warning(
            f"{len(result.failures)} changelog(s) quarantined (the others are stored; the "
            f"next sync retries them): {sample}"
        )
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
            "issues_quarantined": result.tasks_quarantined,
            "issues_recovered_from_quarantine": result.tasks_recovered,
            "entries_fetched": result.entries_fetched,
            "rows_inserted": result.entries_inserted,
            "rows_unchanged": result.entries_already_stored,
            "entries_outside_window": outside,
            "entries_per_day": dg.MetadataValue.json(in_window),
            **timing_metadata({**result.seconds, "lock_wait": step.writer.waited_seconds}),
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
    with sync_step(
        engine, "history", context.run.run_id, lock_wait_seconds=settings.sync_lock_wait_seconds
    ) as step:
        result = build_history(step.writer)
        step.tally.history_written = result.stays_written
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
            **timing_metadata({**result.seconds, "lock_wait": step.writer.waited_seconds}),
        }
    )


TRACKER_ASSETS = [tracker_issues, tracker_changelog, tracker_task_history]
