"""Upserting issue snapshots into `tracker_tasks`.

Issues arrive as a stream (the client scrolls, in no order), are written in
batches of multi-row `INSERT ... ON CONFLICT (tracker_id)`, each batch its own
transaction through the sync's locked writer (the listing reads the next
page meanwhile, in a producer thread: `sync/pipeline.py`), so a run killed
half-way keeps every batch it committed. The incremental high-water mark moves only when the
listing was read to its end (`sync/marks.py`), so the rerun lists again from
where the last complete listing left off and nothing is skipped.

A payload that cannot be a row (no key, a garbled timestamp, a value the
database refuses) goes to the quarantine with its reason; the rest of the
batch is stored. Quarantined issues are fetched again by id at the start of
every sync and stored once they are valid.

Rows are keyed by Tracker's stable id: an issue that moved queues keeps its
row, its new key and its old one in `aliases`. Deleted means Tracker says so:
the reconciliation marks `deleted_at` only for issues a direct GET answers 404
for; an issue that merely no longer matches the query gets
`out_of_query_since` and keeps everything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from radiator_assets.metrics.config import CustomFields
from radiator_assets.storage.models import TrackerTask
from radiator_assets.storage.unit_of_work import write_isolating_refusals
from radiator_assets.sync import quarantine
from radiator_assets.sync.locking import SyncWriter
from radiator_assets.sync.marks import listing_mark, record_complete_listing
from radiator_assets.sync.payloads import HASH_PREFIX, MalformedPayload, issue_row
from radiator_assets.sync.pipeline import fetched_ahead
from radiator_assets.tracker.errors import (
    AccessDenied,
    IssueGone,
    TrackerConfigError,
    TrackerError,
)
from radiator_assets.tracker.query import incremental_query

log = logging.getLogger(__name__)

TASKS = TrackerTask.__table__
SyncMode = Literal["incremental", "full", "reconcile"]
#: An ad-hoc sync of given issues (`sync/by_keys.py`): by keys, or by a query's keys.
AdHocMode = Literal["keys", "query"]


class IssueSource(Protocol):
    def search(self, query: str) -> Generator[dict[str, Any]]: ...

    def get_issue(self, id_or_key: str) -> dict[str, Any]: ...

    def issues_by_keys(self, keys: Sequence[str]) -> list[dict[str, Any]]: ...


@dataclass
class IssueSyncResult:
    mode: SyncMode | AdHocMode
    query: str
    previous_high_water_mark: datetime | None
    high_water_mark: datetime | None = None
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    moved: int = 0
    marked_deleted: int = 0
    out_of_query: int = 0
    quarantined: int = 0
    recovered: int = 0
    listing_complete: bool = False
    batches: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"fetch": 0.0, "write": 0.0})


def _batches(items: Iterable[dict[str, Any]], size: int) -> Generator[list[dict[str, Any]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _latest_per_issue(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per tracker id (an overlap window can return an issue twice)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen = latest.get(row["tracker_id"])
        if seen is None or row["task_updated_at"] >= seen["task_updated_at"]:
            latest[row["tracker_id"]] = row
    return list(latest.values())


def _merge_aliases(row: dict[str, Any], old_key: str | None, old_aliases: list[str]) -> list[str]:
    aliases = list(dict.fromkeys([*old_aliases, *row["aliases"]]))
    if old_key and old_key != row["key"] and old_key not in aliases:
        aliases.append(old_key)
    return [a for a in aliases if a != row["key"]]


def upsert_issue_batch(
    conn: Connection, rows: list[dict[str, Any]], *, listed_by_query: bool = True
) -> dict[str, int]:
    """Write one batch; returns counts of inserted, updated, unchanged and moved issues.

    Rows listed by the configured query are in it again (`out_of_query_since` cleared);
    issues named by an ad-hoc sync (`listed_by_query=False`) keep what the last
    reconciliation found, since being asked for says nothing about the query."""
    rows = _latest_per_issue(rows)
    existing = {
        r.tracker_id: r
        for r in conn.execute(
            sa.select(
                TASKS.c.tracker_id, TASKS.c.key, TASKS.c.aliases, TASKS.c.task_updated_at
            ).where(TASKS.c.tracker_id.in_([r["tracker_id"] for r in rows]))
        )
    }
    changed: list[dict[str, Any]] = []
    unchanged_ids: list[str] = []
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "moved": 0}
    for row in rows:
        old = existing.get(row["tracker_id"])
        if old is None:
            counts["inserted"] += 1
        elif old.task_updated_at == row["task_updated_at"] and old.key == row["key"]:
            counts["unchanged"] += 1
            unchanged_ids.append(row["tracker_id"])
            continue
        else:
            counts["updated"] += 1
            counts["moved"] += int(old.key != row["key"])
        row = dict(row)
        row["aliases"] = _merge_aliases(row, old.key if old else None, old.aliases if old else [])
        changed.append(row)

    if changed:
        stmt = insert(TASKS)
        excluded = stmt.excluded
        updates: dict[str, Any] = {
            name: excluded[name] for name in changed[0] if name not in ("tracker_id",)
        }
        updates["last_sync_at"] = sa.func.now()
        # NULL as SQL, not as a bound None: a bound value outside the rows' parameters makes
        # SQLAlchemy send the batch one row per statement.
        updates["deleted_at"] = sa.null()
        if listed_by_query:
            updates["out_of_query_since"] = sa.null()
        # A new status without (yet) a changelog entry still changes the open stay.
        updates["history_stale"] = sa.or_(
            TASKS.c.history_stale, TASKS.c.status.is_distinct_from(excluded.status)
        )
        # RETURNING keeps SQLAlchemy's multi-row batching (insertmanyvalues): without it,
        # SQLAlchemy 2.1 sends ON CONFLICT statements one row at a time.
        conn.execute(
            stmt.values(last_sync_at=sa.func.now())
            .on_conflict_do_update(index_elements=["tracker_id"], set_=updates)
            .returning(TASKS.c.id),
            changed,
        ).all()
    if unchanged_ids:
        conn.execute(
            sa.update(TASKS)
            .where(TASKS.c.tracker_id.in_(unchanged_ids))
            .values(
                last_sync_at=sa.func.now(),
                deleted_at=None,
                **({"out_of_query_since": None} if listed_by_query else {}),
            )
        )
    return counts


QUARANTINE_RETRIES_PER_SYNC = 200
LISTING_AHEAD_BATCHES = 2  # raw batches listed while one is written (memory: 2 x batch_size)
KEYS_PER_LOOKUP = 50  # the paged search's documented default page size


def sync_issues(
    writer: SyncWriter,
    source: IssueSource,
    *,
    base_query: str,
    fields: CustomFields,
    mode: SyncMode = "incremental",
    overlap: timedelta = timedelta(minutes=10),
    since: datetime | None = None,
    batch_size: int = 500,
    progress: Callable[[IssueSyncResult], None] | None = None,
) -> IssueSyncResult:
    """Fetch the issues the mode asks for and upsert them batch by batch.

    * incremental: issues updated since the mark of the last complete listing
      minus the overlap (all of them before the first one), or since `since`;
    * full: every issue matching the query;
    * reconcile: every issue; those no longer listed are checked one by one:
      deleted when Tracker answers 404 for them, out of the query otherwise.

    The mark moves only after the listing was read to its end, and only when
    the listing covered everything since the previous mark.
    """
    with writer.engine.connect() as conn:
        previous = listing_mark(conn, base_query)
        listing_started = conn.scalar(sa.select(sa.func.now()))
    start = since if since is not None else previous
    query = incremental_query(base_query, start, overlap) if mode == "incremental" else base_query
    covers_since_mark = (
        mode != "incremental" or start is None or (previous is not None and start <= previous)
    )
    result = IssueSyncResult(mode=mode, query=query, previous_high_water_mark=previous)
    result.high_water_mark = previous

    _retry_quarantined(writer, source, fields, result)
    if mode == "reconcile":
        with writer.transaction() as conn:
            conn.execute(sa.text("CREATE TEMP TABLE IF NOT EXISTS seen_issues (tracker_id text)"))
            conn.execute(sa.text("TRUNCATE seen_issues"))
    newest: datetime | None = None

    def listing() -> Generator[list[Any]]:
        # Closed in the producer thread, on success or error: the listing's `finally`
        # releases its Tracker scroll over HTTP, which must not wait for a garbage collector
        # running in some other thread.
        with closing(source.search(query)) as issues:
            yield from _batches(issues, batch_size)

    # The next scroll page is read while this thread writes the previous batch.
    with fetched_ahead(listing, depth=LISTING_AHEAD_BATCHES, name="issue-listing") as batches:
        while True:
            t0 = time.perf_counter()
            raw_batch = next(batches, None)
            result.seconds["fetch"] += time.perf_counter() - t0
            if raw_batch is None:
                break
            t0 = time.perf_counter()
            batch_newest = _write_batch(writer, raw_batch, fields, result, mode == "reconcile")
            result.seconds["write"] += time.perf_counter() - t0
            result.seen += len(raw_batch)
            result.batches += 1
            if batch_newest is not None and (newest is None or batch_newest > newest):
                newest = batch_newest
            if progress is not None:
                progress(result)

    # The listing was read to its end: only now may it move the mark or judge absences.
    t0 = time.perf_counter()
    if mode == "reconcile":
        _settle_unlisted(writer, source, base_query, result)
    with writer.transaction() as conn:
        if covers_since_mark:
            result.high_water_mark = record_complete_listing(conn, base_query, newest, result.seen)
        if start is None or mode != "incremental":
            _forget_unseen_anonymous(conn, listing_started)
    result.seconds["write"] += time.perf_counter() - t0
    result.listing_complete = True
    return result


def _write_batch(
    writer: SyncWriter,
    raw_batch: list[Any],
    fields: CustomFields,
    result: IssueSyncResult,
    track_seen: bool,
) -> datetime | None:
    """Store one batch: good rows upserted, bad payloads quarantined, all in one transaction.
    Returns the newest `updatedAt` stored."""
    with writer.transaction() as conn:
        stored = store_issue_batch(conn, raw_batch, fields, result)
        if track_seen:
            listed = [{"t": str(i["id"])} for i in raw_batch if isinstance(i, dict) and i.get("id")]
            if listed:
                conn.execute(sa.text("INSERT INTO seen_issues VALUES (:t)"), listed)
    return max((row["task_updated_at"] for row in stored), default=None)


def store_issue_batch(
    conn: Connection,
    raw_batch: list[Any],
    fields: CustomFields,
    result: IssueSyncResult,
    *,
    listed_by_query: bool = True,
) -> list[dict[str, Any]]:
    """In the caller's transaction: good rows upserted, bad payloads quarantined (and
    logged), `result` counted. Returns the rows stored."""
    rows: list[dict[str, Any]] = []
    bad: list[quarantine.BadRecord] = []
    for issue in raw_batch:
        try:
            rows.append(issue_row(issue, fields))
        except MalformedPayload as exc:
            bad.append(quarantine.bad_issue(issue, f"MalformedPayload: {exc}"))
    counts: dict[str, int] = {}

    def upsert(c: Connection, batch: Sequence[dict[str, Any]]) -> None:
        written = upsert_issue_batch(c, list(batch), listed_by_query=listed_by_query)
        for name, value in written.items():
            counts[name] = counts.get(name, 0) + value

    refused = write_isolating_refusals(conn, rows, upsert) if rows else []
    bad += [quarantine.bad_issue(row["full_data"], reason) for row, reason in refused]
    refused_ids = {row["tracker_id"] for row, _ in refused}
    stored = [row for row in rows if row["tracker_id"] not in refused_ids]
    quarantine.put(conn, bad)
    refs = [row["tracker_id"] for row in stored] + [row["key"] for row in stored]
    result.recovered += quarantine.resolve(conn, "issue", refs, "stored")
    for bad_record in bad:
        log.warning("issue %s quarantined: %s", bad_record.ref, bad_record.reason)
    result.quarantined += len(bad)
    for name, value in counts.items():
        setattr(result, name, getattr(result, name) + value)
    return stored


def _retry_quarantined(
    writer: SyncWriter, source: IssueSource, fields: CustomFields, result: IssueSyncResult
) -> None:
    """Fetch quarantined issues again by id (or key) and store those that are valid now."""
    with writer.engine.connect() as conn:
        refs = quarantine.open_refs(conn, "issue", limit=QUARANTINE_RETRIES_PER_SYNC)
    for ref in refs:  # a payload hash is no handle: a complete full listing settles those
        try:
            issue = source.get_issue(ref)
        except IssueGone:
            with writer.transaction() as conn:
                quarantine.resolve(conn, "issue", [ref], "gone: Tracker answered 404")
            continue
        except AccessDenied as exc:
            log.warning("quarantined issue %s is hidden from us (403): %s", ref, exc)
            continue
        except TrackerConfigError:
            raise  # 401: wrong for every issue, not this one's problem
        except TrackerError as exc:
            log.warning("quarantined issue %s not retried this time: %s", ref, exc)
            continue
        _write_batch(writer, [issue], fields, result, track_seen=False)


def _forget_unseen_anonymous(conn: Connection, listing_started: datetime) -> None:
    """A complete listing of everything did not meet again the quarantined payloads that
    had neither id nor key: they are gone from Tracker's answers."""
    conn.execute(
        sa.update(quarantine.QUARANTINE)
        .where(
            quarantine.QUARANTINE.c.kind == "issue",
            quarantine.QUARANTINE.c.ref.startswith(HASH_PREFIX),
            quarantine.QUARANTINE.c.resolved_at.is_(None),
            quarantine.QUARANTINE.c.last_seen_at < listing_started,
        )
        .values(resolved_at=sa.func.now(), resolution="no longer listed")
    )


def _settle_unlisted(
    writer: SyncWriter, source: IssueSource, base_query: str, result: IssueSyncResult
) -> None:
    """Stored issues the complete listing did not return: deleted only when Tracker says so
    for that issue (a direct GET answers 404); otherwise they left the query and are kept."""
    if result.seen == 0:
        with writer.engine.connect() as conn:
            active = conn.scalar(sa.select(sa.func.count()).where(TASKS.c.deleted_at.is_(None)))
        if active:
            raise RuntimeError(
                f"reconciliation listed no issue for {base_query!r} while {active} are "
                "stored: refusing to judge them all absent (check TRACKER_QUERY and access)"
            )
    last_id = 0
    while True:
        with writer.transaction() as conn:
            page = conn.execute(
                sa.text(
                    "SELECT t.id, t.tracker_id, t.key FROM tracker_tasks t "
                    "WHERE t.deleted_at IS NULL AND t.id > :last AND NOT EXISTS "
                    "(SELECT 1 FROM seen_issues s WHERE s.tracker_id = t.tracker_id) "
                    "ORDER BY t.id LIMIT :n"
                ),
                {"last": last_id, "n": KEYS_PER_LOOKUP},
            ).all()
        if not page:
            return
        last_id = page[-1].id
        gone, present = _ask_tracker(source, page)
        with writer.transaction() as conn:
            if gone:
                result.marked_deleted += conn.execute(
                    sa.update(TASKS).where(TASKS.c.id.in_(gone)).values(deleted_at=sa.func.now())
                ).rowcount
            if present:
                result.out_of_query += conn.execute(
                    sa.update(TASKS)
                    .where(TASKS.c.id.in_(present), TASKS.c.out_of_query_since.is_(None))
                    .values(out_of_query_since=sa.func.now())
                ).rowcount
        for row in page:
            if row.id in gone:
                log.info("issue %s is deleted in Tracker (404)", row.key)


def _ask_tracker(source: IssueSource, page: Sequence[Any]) -> tuple[list[int], list[int]]:
    """(task ids Tracker answers 404 for, task ids it still has) for a page of stored issues:
    one search by keys, then a direct GET for each issue that search did not return."""
    listed = source.issues_by_keys([row.key for row in page])
    found = {str(i.get("id")) for i in listed if isinstance(i, dict)}
    gone: list[int] = []
    present: list[int] = []
    for row in page:
        if row.tracker_id in found:
            present.append(row.id)
            continue
        try:
            source.get_issue(row.tracker_id)
        except IssueGone:
            gone.append(row.id)
        except AccessDenied:
            present.append(row.id)  # it exists, hidden from us: out of the query, kept
        except TrackerConfigError:
            raise  # 401: wrong for every issue, not this one's problem
        except TrackerError as exc:
            log.warning("issue %s not judged this time (asked again next time): %s", row.key, exc)
        else:
            present.append(row.id)
    return gone, present
