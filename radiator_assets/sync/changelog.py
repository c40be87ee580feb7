"""Fetching changelogs after each issue's cursor and storing them.

Only issues whose snapshot changed since their changelog was last fetched are
asked for, and only for entries after `last_changelog_id` (the predecessor
re-downloaded every changelog). Entries and the cursor that covers them are
committed in the same transaction, through the sync's locked writer, so a run
killed half-way never skips or duplicates an entry: the rerun asks again from
the committed cursor, and `ON CONFLICT DO NOTHING` absorbs whatever was
already stored.

Fetching never waits for the database: a producer thread (`sync/pipeline.py`)
pages through the pending issues, fans their changelogs out over the client's
worker pool and sorts the fetches into batches, at most `AHEAD_BATCHES` batches
ahead of the caller's thread, which writes them one transaction each. Memory
is bounded by those batches plus the client's requests in flight, whatever the
number of issues.

One issue never stops the others: a changelog that cannot be fetched (after
the client's retries), holds entries that cannot be rows, or is refused by the
database goes to the quarantine with its reason while every other issue is
stored. Quarantined issues are fetched again by every later sync (from the
cursor before their first bad entry) until they store cleanly. A 404 on a
changelog marks the issue deleted only when a direct GET of the issue answers
404 too.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.storage.bulk import copy_rows
from radiator_assets.storage.models import TrackerChangelogEntry, TrackerTask
from radiator_assets.storage.unit_of_work import write_isolating_refusals
from radiator_assets.sync import quarantine
from radiator_assets.sync.locking import SyncWriter
from radiator_assets.sync.payloads import MalformedPayload, changelog_row
from radiator_assets.sync.pipeline import fetched_ahead
from radiator_assets.tracker.errors import (
    AccessDenied,
    IssueGone,
    TrackerConfigError,
    TrackerError,
)

log = logging.getLogger(__name__)

TASKS = TrackerTask.__table__
CHANGELOG = TrackerChangelogEntry.__table__
CHANGELOG_COLUMNS = [c.name for c in CHANGELOG.columns]
QUARANTINE = quarantine.QUARANTINE
_BAD_ENTRIES_KEPT = 5
# Batches fetched and sorted while the writer is busy: enough to keep every worker asking
# Tracker through a slow transaction, few enough to keep memory flat (a batch holds
# `batch_issues` changelogs).
AHEAD_BATCHES = 4


class ChangelogFetch(Protocol):
    issue_id: str
    entries: list[dict[str, Any]]
    gone: bool
    error: BaseException | None


class ChangelogSource(Protocol):
    def changelogs(self, items: Iterable[tuple[str, str | None]]) -> Generator[ChangelogFetch]: ...

    def get_issue(self, id_or_key: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PendingTask:
    task_id: int
    tracker_id: str
    key: str
    cursor: str | None
    task_updated_at: datetime | None
    quarantined: bool = False


@dataclass
class ChangelogSyncResult:
    tasks_pending: int = 0
    tasks_fetched: int = 0
    tasks_with_new_entries: int = 0
    tasks_gone: int = 0
    tasks_quarantined: int = 0
    tasks_recovered: int = 0
    entries_fetched: int = 0
    entries_inserted: int = 0
    entries_already_stored: int = 0
    inserted_by_day: Counter[date] = field(default_factory=Counter)  # UTC day of the update
    # issue key -> why its changelog went to the quarantine (this run)
    failures: dict[str, str] = field(default_factory=dict)
    # fetch: the writer waiting for fetched batches (fetching itself runs alongside the
    # writes); write: the writer's transactions
    seconds: dict[str, float] = field(default_factory=lambda: {"fetch": 0.0, "write": 0.0})


@dataclass
class _Batch:
    """What one transaction writes: fetched entries with their cursors, gone issues,
    quarantine records and the quarantine records that end; plus what the fetching
    counted for it (added to the result once the batch reaches the writer)."""

    done: list[tuple[PendingTask, list[dict[str, Any]]]] = field(default_factory=list)
    gone: list[PendingTask] = field(default_factory=list)
    bad: list[quarantine.BadRecord] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.done) + len(self.gone) + len(self.bad)


@dataclass(frozen=True)
class Window:
    """A span of changelog time, [start, end) in UTC, whose entries are read again."""

    start: datetime
    end: datetime


def _last_entry_before(window: Window) -> sa.LateralFromClause:
    """Per task, the newest stored entry before the window (id and time): reading on from
    it returns every entry of the window (Tracker's changelog comes in chronological
    order)."""
    return (
        sa.select(CHANGELOG.c.id, CHANGELOG.c.updated_at)
        .where(CHANGELOG.c.task_id == TASKS.c.id, CHANGELOG.c.updated_at < window.start)
        .order_by(CHANGELOG.c.updated_at.desc(), CHANGELOG.c.id.desc())
        .limit(1)
        .lateral("before_window")
    )


def _earlier_cursor(
    first: tuple[str | None, datetime | None], second: tuple[str | None, datetime | None]
) -> str | None:
    """Of two cursors (entry id, its time), the one that reads more: None (the start)
    wins, then the older entry."""
    if first[0] is None or second[0] is None:
        return None
    if first[1] is None or second[1] is None:
        return None  # a cursor whose entry is not stored: read from the start
    return first[0] if first[1] <= second[1] else second[0]


def pending_tasks(
    conn: Connection,
    *,
    reread: Window | None = None,
    after_task_id: int = 0,
    limit: int = 5000,
) -> list[PendingTask]:
    """One page (by task id) of issues whose changelog is behind their snapshot or in the
    quarantine, plus, with `reread`, the issues that can hold entries of that window
    (created before its end, updated since its start), read from their last entry before
    it. Ids and cursors only."""
    open_q = QUARANTINE.alias("q")
    behind = sa.or_(
        TASKS.c.changelog_synced_updated_at.is_distinct_from(TASKS.c.task_updated_at),
        open_q.c.id.is_not(None),
    )
    joined = TASKS.outerjoin(
        open_q,
        sa.and_(
            open_q.c.kind == "changelog",
            open_q.c.ref == TASKS.c.tracker_id,
            open_q.c.resolved_at.is_(None),
        ),
    )
    in_window: sa.ColumnElement[bool] = sa.false()
    reread_cursor: Any = sa.null()
    reread_at: Any = sa.null()
    if reread is not None:
        in_window = sa.and_(
            sa.func.coalesce(TASKS.c.created_at, TASKS.c.task_updated_at) < reread.end,
            TASKS.c.task_updated_at >= reread.start,
        )
        before = _last_entry_before(reread)
        joined = joined.outerjoin(before, sa.true())
        reread_cursor, reread_at = before.c.id, before.c.updated_at
    retry_at = (
        sa.select(CHANGELOG.c.updated_at)
        .where(CHANGELOG.c.id == open_q.c.retry_from)
        .scalar_subquery()
    )
    query = (
        sa.select(
            TASKS.c.id,
            TASKS.c.tracker_id,
            TASKS.c.key,
            TASKS.c.last_changelog_id,
            TASKS.c.task_updated_at,
            open_q.c.id.label("quarantine_id"),
            open_q.c.retry_from,
            in_window.label("in_window"),
            reread_cursor.label("reread_from"),
            reread_at.label("reread_at"),
            retry_at.label("retry_at"),
        )
        .select_from(joined)
        .where(TASKS.c.deleted_at.is_(None), TASKS.c.id > after_task_id, sa.or_(behind, in_window))
    )
    rows = conn.execute(query.order_by(TASKS.c.id).limit(limit))
    tasks = []
    for r in rows:
        quarantined = r.quarantine_id is not None
        if quarantined and r.in_window:
            # Both the bad entry and the window must be read again: whichever starts earlier.
            cursor = _earlier_cursor((r.retry_from, r.retry_at), (r.reread_from, r.reread_at))
        elif quarantined:
            cursor = r.retry_from
        else:
            cursor = r.reread_from if r.in_window else r.last_changelog_id
        tasks.append(PendingTask(r.id, r.tracker_id, r.key, cursor, r.task_updated_at, quarantined))
    return tasks


def _write_entries(
    conn: Connection, done: Sequence[tuple[PendingTask, list[dict[str, Any]]]]
) -> Counter[date]:
    """Entries plus the cursors that cover them, in the caller's transaction. Returns the
    entries inserted per UTC day of their update."""
    rows = [row for _, entry_rows in done for row in entry_rows]
    inserted: Counter[date] = Counter()
    if rows:
        # COPY into a per-connection staging table, then one set-based insert that skips
        # entries already stored (a rerun after a kill, an overlap, a refetch).
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE IF NOT EXISTS tracker_changelog_staging "
                "(LIKE tracker_changelog INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
        )
        copy_rows(
            conn,
            "tracker_changelog_staging",
            CHANGELOG_COLUMNS,
            ([row[c] for c in CHANGELOG_COLUMNS] for row in rows),
        )
        days = conn.execute(
            sa.text(
                f"WITH inserted AS (INSERT INTO tracker_changelog ({', '.join(CHANGELOG_COLUMNS)}) "
                f"SELECT DISTINCT ON (id) {', '.join(CHANGELOG_COLUMNS)} "
                "FROM tracker_changelog_staging ORDER BY id "
                "ON CONFLICT (id) DO NOTHING RETURNING updated_at) "
                "SELECT CAST(timezone('UTC', updated_at) AS date), count(*) "
                "FROM inserted GROUP BY 1"
            )
        )
        inserted.update({day: n for day, n in days})
        conn.execute(sa.text("TRUNCATE tracker_changelog_staging"))
    conn.execute(
        sa.text(
            "UPDATE tracker_tasks t SET "
            "last_changelog_id = COALESCE(v.cursor, t.last_changelog_id), "
            "changelog_synced_updated_at = v.synced, "
            "history_stale = t.history_stale OR v.cursor IS NOT NULL "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:cursors AS text[]), "
            "CAST(:synced AS timestamptz[])) AS v(id, cursor, synced) WHERE t.id = v.id"
        ),
        {
            "ids": [task.task_id for task, _ in done],
            "cursors": [entry_rows[-1]["id"] if entry_rows else None for _, entry_rows in done],
            "synced": [task.task_updated_at for task, _ in done],
        },
    )
    return inserted


def _write_batch(conn: Connection, batch: _Batch, result: ChangelogSyncResult) -> None:
    """One batch in the caller's transaction; an issue whose rows the database refuses
    is quarantined (its cursor untouched) and the others are stored."""
    inserted: Counter[date] = Counter()

    def write(c: Connection, items: Sequence[tuple[PendingTask, list[dict[str, Any]]]]) -> None:
        inserted.update(_write_entries(c, items))

    refused = write_isolating_refusals(conn, batch.done, write) if batch.done else []
    for (task, _), reason in refused:
        batch.bad.append(_bad(task, f"the database refused its entries: {reason}", task.cursor))
    refused_ids = {task.tracker_id for (task, _), _ in refused}
    if batch.gone:
        conn.execute(
            sa.update(TASKS)
            .where(TASKS.c.id.in_([t.task_id for t in batch.gone]))
            .values(deleted_at=sa.func.now())
        )
        quarantine.resolve(
            conn, "changelog", [t.tracker_id for t in batch.gone], "gone: Tracker answered 404"
        )
    quarantine.put(conn, batch.bad)
    recovered = [ref for ref in batch.recovered if ref not in refused_ids]
    result.tasks_recovered += quarantine.resolve(conn, "changelog", recovered, "stored")
    result.entries_inserted += inserted.total()
    result.inserted_by_day.update(inserted)
    result.tasks_gone += len(batch.gone)
    result.tasks_quarantined += len(batch.bad)
    for record in batch.bad:
        result.failures[record.issue_key or record.ref] = record.reason
        log.error("changelog of %s quarantined: %s", record.issue_key, record.reason)


def _bad(
    task: PendingTask, reason: str, retry_from: str | None, payload: Any = None
) -> quarantine.BadRecord:
    return quarantine.BadRecord("changelog", task.tracker_id, reason, task.key, payload, retry_from)


def _confirm_gone(source: ChangelogSource, task: PendingTask, batch: _Batch) -> None:
    """A changelog 404 is a deletion only when the issue itself answers 404 as well."""
    try:
        source.get_issue(task.tracker_id)
    except IssueGone:
        log.warning("issue %s is gone from Tracker (404); marking it deleted", task.key)
        batch.gone.append(task)
        return
    except AccessDenied as exc:
        reason = f"its changelog answered 404 and the issue itself is hidden from us: {exc}"
    except TrackerConfigError:
        raise  # 401: wrong for every issue, not this one's problem
    except TrackerError as exc:
        reason = f"its changelog answered 404 and the issue could not be checked: {exc}"
    else:
        reason = "its changelog answered 404 while the issue itself exists (GET answered 200)"
    batch.bad.append(_bad(task, reason, task.cursor))


def _take(fetch: ChangelogFetch, task: PendingTask, source: ChangelogSource, batch: _Batch) -> None:
    """Sort one fetch into the batch: entries to store, a gone issue, or the quarantine."""
    batch.counts["tasks_fetched"] += 1
    if fetch.gone:
        _confirm_gone(source, task, batch)
        return
    if fetch.error is not None:
        reason = f"{type(fetch.error).__name__}: {fetch.error}"
        batch.bad.append(_bad(task, reason, task.cursor))
        return
    entry_rows: list[dict[str, Any]] = []
    bad_entries: list[tuple[Any, str]] = []
    retry_from = task.cursor
    for entry in fetch.entries:
        try:
            entry_rows.append(changelog_row(entry, task.task_id))
        except MalformedPayload as exc:
            if not bad_entries:
                retry_from = entry_rows[-1]["id"] if entry_rows else task.cursor
            bad_entries.append((entry, str(exc)))
    batch.counts["entries_fetched"] += len(entry_rows)
    batch.counts["tasks_with_new_entries"] += int(bool(entry_rows))
    batch.done.append((task, entry_rows))
    if bad_entries:
        reason = f"{len(bad_entries)} bad changelog entr(y/ies), first: {bad_entries[0][1]}"
        kept = [entry for entry, _ in bad_entries[:_BAD_ENTRIES_KEPT]]
        batch.bad.append(_bad(task, reason, retry_from, kept))
    elif task.quarantined:
        batch.recovered.append(task.tracker_id)


class _BatchMaker:
    """The fetching side of `sync_changelogs`, run in the producer thread: pages through
    the pending issues (reads on a connection of its own), fetches their changelogs over
    the client's pool and sorts each fetch into the batch being filled."""

    def __init__(
        self,
        writer: SyncWriter,
        source: ChangelogSource,
        reread: Window | None,
        batch_issues: int,
    ) -> None:
        self._writer = writer
        self._source = source
        self._reread = reread
        self._batch_issues = batch_issues
        self._asked: dict[str, PendingTask] = {}  # tracker id -> task, until its fetch is in
        self._batch = _Batch()

    def _pending(self) -> Generator[tuple[str, str | None]]:
        """(tracker id, cursor) of every pending issue, a page of ids at a time, read
        lazily by the client as it has room for more requests."""
        last_task_id = 0
        while True:
            with self._writer.engine.connect() as conn:
                tasks = pending_tasks(conn, reread=self._reread, after_task_id=last_task_id)
            if not tasks:
                return
            last_task_id = tasks[-1].task_id
            self._batch.counts["tasks_pending"] += len(tasks)
            for task in tasks:
                self._asked[task.tracker_id] = task
                yield task.tracker_id, task.cursor

    def batches(self) -> Generator[_Batch]:
        """Full batches as the fetches come in, then the last one (maybe without writes,
        carrying only counts)."""
        # Closed here, in this thread, even when the consumer stops: its `finally` cancels
        # and joins the fetch threads, which must not wait for a garbage collector.
        with closing(self._source.changelogs(self._pending())) as fetches:
            for fetch in fetches:
                task = self._asked.pop(fetch.issue_id)
                _take(fetch, task, self._source, self._batch)
                if len(self._batch) >= self._batch_issues:
                    full, self._batch = self._batch, _Batch()
                    yield full
        yield self._batch


def _add_counts(result: ChangelogSyncResult, counts: Counter[str]) -> None:
    for name, value in counts.items():
        setattr(result, name, getattr(result, name) + value)


def sync_changelogs(
    writer: SyncWriter,
    source: ChangelogSource,
    *,
    reread: Window | None = None,
    batch_issues: int = 50,
    progress: Callable[[ChangelogSyncResult], None] | None = None,
) -> ChangelogSyncResult:
    """Fetch and store new changelog entries of every pending issue, and with `reread`
    every entry of that window again (stored ones are kept, missing ones added).

    Fetching runs in a producer thread while this thread writes, one transaction per
    batch of `batch_issues` issues (entries and their cursors together); `progress`
    is called after each committed batch, in this thread.

    Per-issue problems go to the quarantine (`result.tasks_quarantined`,
    `result.failures`); only what stops every issue (Tracker unreachable,
    credentials refused, the lock lost) raises, after the batches fetched before it
    were stored. A write error stops the fetching before it is raised.
    """
    result = ChangelogSyncResult()
    maker = _BatchMaker(writer, source, reread, batch_issues)
    with fetched_ahead(maker.batches, depth=AHEAD_BATCHES, name="changelog-fetch") as batches:
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            result.seconds["fetch"] += time.perf_counter() - t0
            if batch is None:
                break
            if len(batch):
                t0 = time.perf_counter()
                with writer.transaction() as conn:
                    _write_batch(conn, batch, result)
                result.seconds["write"] += time.perf_counter() - t0
            _add_counts(result, batch.counts)
            if len(batch) and progress is not None:
                progress(result)
    result.entries_already_stored = result.entries_fetched - result.entries_inserted
    return result


def oldest_pending_update(conn: Connection) -> datetime | None:
    """The oldest snapshot whose changelog is not fetched yet (a failed fetch leaves one)."""
    return conn.scalar(
        sa.select(sa.func.min(TASKS.c.task_updated_at)).where(
            TASKS.c.deleted_at.is_(None),
            TASKS.c.changelog_synced_updated_at.is_distinct_from(TASKS.c.task_updated_at),
        )
    )


def entries_per_month(conn: Connection, first: date, last: date) -> dict[date, tuple[int, int]]:
    """Stored entries and distinct issues per month (UTC) of their update, for the months
    `first`..`last` (first days of months); months without entries are absent."""
    month = sa.cast(
        sa.func.date_trunc("month", sa.func.timezone("UTC", CHANGELOG.c.updated_at)), sa.Date
    )
    start = datetime.combine(first, datetime.min.time(), UTC)
    following = (last.replace(day=28) + timedelta(days=4)).replace(day=1)
    end = datetime.combine(following, datetime.min.time(), UTC)
    rows = conn.execute(
        sa.select(month, sa.func.count(), sa.func.count(sa.distinct(CHANGELOG.c.task_id)))
        .where(CHANGELOG.c.updated_at >= start, CHANGELOG.c.updated_at < end)
        .group_by(month)
    )
    return {day: (entries, issues) for day, entries, issues in rows}
