"""Fetching changelogs after each issue's cursor and storing them.

Only issues whose snapshot changed since their changelog was last fetched are
asked for, and only for entries after `last_changelog_id` (the predecessor
re-downloaded every changelog). Entries and the cursor that covers them are
committed in the same transaction, so a run killed half-way never skips or
duplicates an entry: the rerun asks again from the committed cursor, and
`ON CONFLICT DO NOTHING` absorbs whatever was already stored. A 404 marks the
issue deleted and keeps its history; a failed fetch leaves the issue's rows
and cursor untouched and is reported.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.storage.bulk import copy_rows
from radiator_assets.storage.models import TrackerChangelogEntry, TrackerTask
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets.sync.locking import sync_lock
from radiator_assets.sync.payloads import MalformedPayload, changelog_row

log = logging.getLogger(__name__)

TASKS = TrackerTask.__table__
CHANGELOG = TrackerChangelogEntry.__table__
CHANGELOG_COLUMNS = [c.name for c in CHANGELOG.columns]


class ChangelogFetch(Protocol):
    issue_id: str
    entries: list[dict[str, Any]]
    gone: bool
    error: BaseException | None


class ChangelogSource(Protocol):
    def changelogs(self, items: Iterable[tuple[str, str | None]]) -> Iterator[ChangelogFetch]: ...


@dataclass(frozen=True)
class PendingTask:
    task_id: int
    tracker_id: str
    key: str
    cursor: str | None
    task_updated_at: datetime | None


@dataclass
class ChangelogSyncResult:
    tasks_pending: int = 0
    tasks_fetched: int = 0
    tasks_with_new_entries: int = 0
    tasks_gone: int = 0
    entries_fetched: int = 0
    entries_inserted: int = 0
    entries_already_stored: int = 0
    entries_by_day: Counter[date] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: {"fetch": 0.0, "write": 0.0})


class ChangelogSyncIncomplete(RuntimeError):
    """Some issues' changelogs could not be fetched; everything else was committed."""

    def __init__(self, result: ChangelogSyncResult) -> None:
        self.result = result
        sample = "; ".join(f"{k}: {v}" for k, v in list(result.failures.items())[:10])
        super().__init__(
            f"{len(result.failures)} issue(s) left unsynced (their stored rows and cursors "
            f"are untouched; the next sync retries them): {sample}"
        )


def pending_tasks(
    conn: Connection,
    *,
    updated_from: datetime | None,
    refetch: bool = False,
    after_task_id: int = 0,
    limit: int = 5000,
) -> list[PendingTask]:
    """One page (by task id) of issues whose changelog is behind their snapshot, or of all
    issues in the window when refetching. Ids and cursors only, never row payloads."""
    query = sa.select(
        TASKS.c.id,
        TASKS.c.tracker_id,
        TASKS.c.key,
        TASKS.c.last_changelog_id,
        TASKS.c.task_updated_at,
    ).where(TASKS.c.deleted_at.is_(None), TASKS.c.id > after_task_id)
    if not refetch:
        query = query.where(
            TASKS.c.changelog_synced_updated_at.is_distinct_from(TASKS.c.task_updated_at)
        )
    if updated_from is not None:
        query = query.where(TASKS.c.task_updated_at >= updated_from)
    rows = conn.execute(query.order_by(TASKS.c.id).limit(limit))
    return [
        PendingTask(
            r.id, r.tracker_id, r.key, None if refetch else r.last_changelog_id, r.task_updated_at
        )
        for r in rows
    ]


def _write_batch(
    conn: Connection,
    done: list[tuple[PendingTask, list[dict[str, Any]]]],
    gone: list[PendingTask],
) -> int:
    """Entries plus the cursors that cover them, in the caller's one transaction."""
    rows = [row for _, entry_rows in done for row in entry_rows]
    inserted = 0
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
        inserted = conn.execute(
            sa.text(
                f"INSERT INTO tracker_changelog ({', '.join(CHANGELOG_COLUMNS)}) "
                f"SELECT DISTINCT ON (id) {', '.join(CHANGELOG_COLUMNS)} "
                "FROM tracker_changelog_staging ORDER BY id "
                "ON CONFLICT (id) DO NOTHING"
            )
        ).rowcount
    if done:
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
    if gone:
        conn.execute(
            sa.update(TASKS)
            .where(TASKS.c.id.in_([t.task_id for t in gone]))
            .values(deleted_at=sa.func.now())
        )
    return inserted


def _take(
    fetch: ChangelogFetch,
    task: PendingTask,
    result: ChangelogSyncResult,
    done: list[tuple[PendingTask, list[dict[str, Any]]]],
    gone: list[PendingTask],
) -> None:
    """Sort one fetch into the batch to write, the gone issues, or the failures."""
    result.tasks_fetched += 1
    if fetch.gone:
        log.warning("issue %s is gone from Tracker (404); marking it deleted", task.key)
        result.tasks_gone += 1
        gone.append(task)
        return
    if fetch.error is not None:
        result.failures[task.key] = f"{type(fetch.error).__name__}: {fetch.error}"
        log.error("changelog of %s not synced: %s", task.key, result.failures[task.key])
        return
    try:
        entry_rows = [changelog_row(e, task.task_id) for e in fetch.entries]
    except MalformedPayload as exc:
        result.failures[task.key] = f"MalformedPayload: {exc}"
        log.error("changelog of %s not synced: %s", task.key, exc)
        return
    result.entries_fetched += len(entry_rows)
    result.tasks_with_new_entries += int(bool(entry_rows))
    result.entries_by_day.update(r["updated_at"].date() for r in entry_rows)
    done.append((task, entry_rows))


def sync_changelogs(
    engine: Engine,
    source: ChangelogSource,
    *,
    updated_from: datetime | None = None,
    refetch: bool = False,
    batch_issues: int = 50,
    progress: Callable[[ChangelogSyncResult], None] | None = None,
    lock_wait_seconds: float = 3600.0,
) -> ChangelogSyncResult:
    """Fetch and store new changelog entries of every pending issue, holding the sync lock.

    Raises `ChangelogSyncIncomplete` at the end when some issues failed, after
    committing all the others.
    """
    with sync_lock(engine, wait_seconds=lock_wait_seconds) as waited:
        result = _sync_changelogs_locked(
            engine, source, updated_from, refetch, batch_issues, progress
        )
    result.seconds["lock_wait"] = waited
    result.entries_already_stored = result.entries_fetched - result.entries_inserted
    if result.failures:
        raise ChangelogSyncIncomplete(result)
    return result


def _sync_changelogs_locked(
    engine: Engine,
    source: ChangelogSource,
    updated_from: datetime | None,
    refetch: bool,
    batch_issues: int,
    progress: Callable[[ChangelogSyncResult], None] | None,
) -> ChangelogSyncResult:
    result = ChangelogSyncResult()
    done: list[tuple[PendingTask, list[dict[str, Any]]]] = []
    gone: list[PendingTask] = []

    def flush() -> None:
        t0 = time.perf_counter()
        with unit_of_work(engine) as conn:
            inserted = _write_batch(conn, done, gone)
        result.entries_inserted += inserted
        result.seconds["write"] += time.perf_counter() - t0
        done.clear()
        gone.clear()
        if progress is not None:
            progress(result)

    last_task_id = 0
    while True:
        with engine.connect() as conn:
            tasks = pending_tasks(
                conn, updated_from=updated_from, refetch=refetch, after_task_id=last_task_id
            )
        if not tasks:
            break
        last_task_id = tasks[-1].task_id
        result.tasks_pending += len(tasks)
        by_id = {t.tracker_id: t for t in tasks}
        fetches = iter(source.changelogs((t.tracker_id, t.cursor) for t in tasks))
        while True:
            t0 = time.perf_counter()
            fetch = next(fetches, None)
            result.seconds["fetch"] += time.perf_counter() - t0
            if fetch is None:
                break
            _take(fetch, by_id[fetch.issue_id], result, done, gone)
            if len(done) + len(gone) >= batch_issues:
                flush()
    if done or gone:
        flush()
    return result


def oldest_pending_update(conn: Connection) -> datetime | None:
    """The oldest snapshot whose changelog is not fetched yet (a failed fetch leaves one)."""
    return conn.scalar(
        sa.select(sa.func.min(TASKS.c.task_updated_at)).where(
            TASKS.c.deleted_at.is_(None),
            TASKS.c.changelog_synced_updated_at.is_distinct_from(TASKS.c.task_updated_at),
        )
    )
