"""Ingestion assets (group `tracker`): issue snapshots, changelog events, status history.

The bodies are thin: each takes the sync lock and journals the step
(`sync_step`), calls the write path in `radiator_assets.sync` through the
locked writer, and reports what it did as metadata. Records the write path
cannot store are quarantined, counted here and shown by the quarantine
checks; they never fail the step. `radiator sync` materializes these same
assets.
"""

from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import dagster as dg
from sqlalchemy.engine import Engine

from radiator_assets.assets.metadata import (
    api_metadata,
    row_count,
    table_definition_metadata,
    timing_metadata,
)
from radiator_assets.assets.partitions import (
    changelog_partitions,
    holds,
    month_start,
    partition_key,
)
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.storage.models import TrackerChangelogEntry, TrackerTask, TrackerTaskHistory
from radiator_assets.sync.by_keys import KEYS_PER_BATCH, KeySyncResult, parse_keys, sync_by_keys
from radiator_assets.sync.changelog import (
    ChangelogSyncResult,
    Window,
    entries_per_month,
    sync_changelogs,
)
from radiator_assets.sync.history import build_history
from radiator_assets.sync.issues import IssueSyncResult, sync_issues
from radiator_assets.sync.marks import listing_mark
from radiator_assets.sync.sync_runs import SyncRunTally, sync_step

GROUP = "tracker"
SYNC_POOL = "tracker_sync"
SINGLE_RUN = dg.BackfillPolicy.single_run()


class IssuesConfig(dg.Config):
    """How much of Tracker to list this time; or, with `keys` or `query`, only the given
    issues (an ad-hoc sync, `sync/by_keys.py`: the configured query's mark and
    reconciliation are left alone)."""

    mode: Literal["incremental", "full", "reconcile"] = "incremental"
    since: str | None = None  # ISO date or timestamp (UTC); overrides the stored high-water mark
    keys: list[str] | None = None  # sync just these issues (current or old keys)
    query: str | None = None  # sync just the issues this Tracker query matches now
    keys_per_batch: int = KEYS_PER_BATCH  # issues per search request and transaction

    def given_issues(self) -> bool:
        """Whether this is an ad-hoc sync of given issues; refuses mixed settings."""
        if self.keys is None and self.query is None:
            return False
        if self.keys is not None and self.query is not None:
            raise ValueError("tracker_issues: give keys or query, not both")
        if self.mode != "incremental" or self.since:
            raise ValueError("tracker_issues: keys and query go with neither mode nor since")
        return True


class ChangelogConfig(dg.Config):
    """Which months of the run's window are read from Tracker again: `closed` (default)
    the months before the live one that were materialized before, `all` every month of
    the window, the live one included, `none` only what is pending (the project's own
    automation: the sensor, the schedules and `radiator sync` pass it)."""

    reread: Literal["closed", "all", "none"] = "closed"


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
    metadata=table_definition_metadata(TrackerTask.__table__),
    description=(
        "Tracker issues matching TRACKER_QUERY, upserted by stable id (snapshot); with the "
        "config's keys or query, only those issues (an ad-hoc sync, in resumable batches)."
    ),
)
def tracker_issues(
    context: dg.AssetExecutionContext,
    config: IssuesConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    if config.given_issues():
        return _given_issues(context, config, warehouse, tracker)
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
            "dagster/row_count": row_count(engine, TrackerTask.__table__),
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


MISSING_KEYS_SHOWN = 100


def _given_issues(
    context: dg.AssetExecutionContext,
    config: IssuesConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> dg.MaterializeResult:
    """`tracker_issues` of an ad-hoc run: the given issues' snapshots, batch by batch; the
    keys Tracker does not know are listed in the metadata (the step does not fail)."""
    engine = warehouse.engine()
    settings = tracker.settings()
    keys = parse_keys(config.keys) if config.keys is not None else None
    with (
        sync_step(
            engine,
            f"issues:{'keys' if keys is not None else 'query'}",
            context.run.run_id,
            lock_wait_seconds=settings.sync_lock_wait_seconds,
        ) as step,
        tracker.client() as client,
    ):

        def progress(tally: SyncRunTally, r: KeySyncResult) -> None:
            tally.tasks_written = r.inserted + r.updated
            tally.api_requests = int(client.counters["requests"])
            context.log.debug(f"issues: batch {r.batches + r.batches_stored_before} stored")

        result = sync_by_keys(
            step.writer,
            client,
            fields=tracker.custom_fields(),
            keys=keys,
            query=config.query,
            batch_size=config.keys_per_batch,
            run_id=context.run.run_id,
            progress=step.progress(progress),
            configured_query=settings.tracker_query,
        )
        traffic = client.counters.snapshot()
        step.tally.tasks_written = result.inserted + result.updated
        step.tally.api_requests = int(traffic["requests"])
    missing = len(result.not_found) + len(result.hidden)
    context.log.info(
        f"issues ({result.mode}, {result.query}): {result.seen} found in "
        f"{result.batches} batch(es) ({result.batches_stored_before} stored before), "
        f"{result.inserted} new, {result.updated} updated, {result.unchanged} unchanged, "
        f"{result.quarantined} quarantined, {missing} key(s) not found, "
        f"{len(result.outside_query)} outside the configured query (the next reconcile "
        "marks them out of the query)"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": row_count(engine, TrackerTask.__table__),
            "mode": result.mode,
            "query": result.query,
            "keys_given": result.keys_given,
            "batches": result.batches_total,
            "batches_stored_before": result.batches_stored_before,
            "issues_seen": result.seen,
            "rows_inserted": result.inserted,
            "rows_updated": result.updated,
            "rows_unchanged": result.unchanged,
            "issues_moved": result.moved,
            "issues_quarantined": result.quarantined,
            "keys_not_found": ", ".join(result.not_found[:MISSING_KEYS_SHOWN]),
            "keys_not_found_count": len(result.not_found),
            "keys_hidden": ", ".join(result.hidden[:MISSING_KEYS_SHOWN]),
            "keys_hidden_count": len(result.hidden),
            # counted in the reports until the next reconcile marks them out of the query
            "configured_query": settings.tracker_query,
            "keys_outside_query": ", ".join(result.outside_query[:MISSING_KEYS_SHOWN]),
            "keys_outside_query_count": len(result.outside_query),
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
    metadata=table_definition_metadata(TrackerChangelogEntry.__table__),
    description=(
        "Changelog entries (immutable events), partitioned by the month (UTC) of their update. "
        "Fetched after each issue's last_changelog_id for issues whose snapshot changed; a "
        "month before the live one is read again from Tracker when its partition is "
        "materialized."
    ),
)
def tracker_changelog(
    context: dg.AssetExecutionContext,
    config: ChangelogConfig,
    warehouse: WarehouseResource,
    tracker: TrackerResource,
) -> None:
    engine = warehouse.engine()
    settings = tracker.settings()
    run_window = context.partition_time_window
    with engine.connect() as conn:
        mark = listing_mark(conn, settings.tracker_query)
    reread = reread_window(
        Window(run_window.start, run_window.end),
        mark,
        timedelta(minutes=settings.sync_overlap_minutes),
        mode=config.reread,
        recorded=context.instance.get_materialized_partitions(context.asset_key),
    )
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
            step.writer, client, reread=reread, progress=step.progress(progress)
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
        if reread is not None:
            # Asked to make these months whole and could not: record none of them.
            raise dg.Failure(
                description=(
                    f"months {reread.start.date()}..{reread.end.date()} were read again, but "
                    f"{len(result.failures)} issue(s) could not be and wait in the quarantine "
                    f"({sample}); every other entry is stored, and the months stay unrecorded "
                    "until a run reads them whole"
                ),
                metadata={"issues_quarantined": len(result.failures)},
            )
    _record_partitions(
        context,
        engine,
        result,
        run_wide={
            "window_read_again": (
                "none" if reread is None else f"{reread.start.date()}..{reread.end.date()}"
            ),
            "issues_pending": result.tasks_pending,
            "issues_with_new_entries": result.tasks_with_new_entries,
            "issues_gone": result.tasks_gone,
            "issues_quarantined": result.tasks_quarantined,
            "issues_recovered_from_quarantine": result.tasks_recovered,
            "entries_fetched": result.entries_fetched,
            "rows_inserted": result.entries_inserted,
            "rows_unchanged": result.entries_already_stored,
            **timing_metadata({**result.seconds, "lock_wait": step.writer.waited_seconds}),
            **api_metadata(traffic),
        },
    )


@dataclass(frozen=True)
class PartitionStats:
    """A partition's own numbers: the entries stored for its month and their issues."""

    month: date
    entries: int
    issues: int

    def metadata(self, inserted: int) -> dict[str, Any]:
        return {
            "dagster/row_count": self.entries,
            "issues": self.issues,
            "entries_inserted": inserted,
            "month": self.month.strftime("%Y-%m"),
        }


def partition_stats(engine: Engine, keys: Sequence[str]) -> dict[str, PartitionStats]:
    months = [date.fromisoformat(k) for k in keys]
    with engine.connect() as conn:
        counts = entries_per_month(conn, min(months), max(months))
    return {
        key: PartitionStats(month, *counts.get(month, (0, 0)))
        for key, month in zip(keys, months, strict=True)
    }


def reread_window(
    run_window: Window,
    mark: datetime | None,
    overlap: timedelta,
    *,
    mode: str,
    recorded: AbstractSet[str],
) -> Window | None:
    """The part of the run's window whose entries are read from Tracker again.

    Months before the live one (the month of the incremental mark minus the
    overlap) are closed. Materializing a closed month that was recorded before
    re-reads it: that is what a backfill or a click in the UI asks for, to make
    it whole again. A month never recorded is being filled for the first time
    (a first sync, or its rerun after a kill), and every issue with entries
    there is pending anyway. The live month is kept current by each issue's
    cursor, so incremental runs stay cheap. `mode` is the config's `reread`."""
    if mode == "all":
        return run_window
    if mode == "none" or mark is None:
        return None
    live_from = datetime.combine(month_start((mark - overlap).date()), time(), UTC)
    end = min(run_window.end, live_from)
    # Partition keys are the months' first days, ISO-written: they sort as the months do.
    since, until = run_window.start.date().isoformat(), end.date().isoformat()
    first_closed = min((key for key in recorded if since <= key < until), default=None)
    if first_closed is None:
        return None
    return Window(datetime.combine(date.fromisoformat(first_closed), time(), UTC), end)


def _record_partitions(
    context: dg.AssetExecutionContext,
    engine: Engine,
    result: ChangelogSyncResult,
    run_wide: dict[str, Any],
) -> None:
    """Each partition the run covered gets its own numbers; so does each other partition
    that received entries (an old month's entries stored by a catch-up or a reconcile).
    Run-wide figures go on the newest partition of the run only."""
    covered = list(context.partition_keys)
    inserted: Counter[str] = Counter()
    outside = 0
    for day, n in result.inserted_by_day.items():
        if holds(partition_key(day)):
            inserted[partition_key(day)] += n
        else:
            outside += n
    received = sorted(set(inserted) - set(covered))
    stats = partition_stats(engine, [*covered, *received])
    for key in covered:
        extra = {**run_wide, "entries_outside_partitions": outside} if key == covered[-1] else {}
        context.add_asset_metadata(
            {**stats[key].metadata(inserted[key]), **extra}, partition_key=key
        )
    for key in received:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key,
                partition=key,
                metadata=stats[key].metadata(inserted[key]),
                description=f"entries of {key[:7]} stored by run {context.run.run_id[:8]}",
            )
        )
    if received:
        context.log.info(f"also stored entries of partitions {', '.join(received)}")


@dg.asset(
    group_name=GROUP,
    deps=[tracker_changelog],
    backfill_policy=SINGLE_RUN,
    pool=SYNC_POOL,
    kinds={"postgres", "sql"},
    metadata=table_definition_metadata(TrackerTaskHistory.__table__),
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
            "dagster/row_count": row_count(engine, TrackerTaskHistory.__table__),
            "tasks_touched": result.tasks_rebuilt,
            "rows_deleted": result.stays_deleted,
            "rows_inserted": result.stays_written,
            "batches": result.batches,
            **timing_metadata({**result.seconds, "lock_wait": step.writer.waited_seconds}),
        }
    )


TRACKER_ASSETS = [tracker_issues, tracker_changelog, tracker_task_history]
