"""Upserting issue snapshots into `tracker_tasks`.

Issues arrive as a stream (the client scrolls), are written in batches of
multi-row `INSERT ... ON CONFLICT (tracker_id)`, each batch its own
transaction, so a run killed half-way keeps every batch it committed and the
rerun picks up from the stored high-water mark. Rows are keyed by Tracker's
stable id: an issue that moved queues keeps its row, its new key and its old
one in `aliases`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from radiator_assets.metrics.config import CustomFields
from radiator_assets.storage.models import TrackerTask
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets.sync.locking import sync_lock
from radiator_assets.sync.payloads import issue_row
from radiator_assets.tracker.query import incremental_query

TASKS = TrackerTask.__table__
SyncMode = Literal["incremental", "full", "reconcile"]


class IssueSource(Protocol):
    def search(self, query: str) -> Iterator[dict[str, Any]]: ...


@dataclass
class IssueSyncResult:
    mode: SyncMode
    query: str
    previous_high_water_mark: datetime | None
    high_water_mark: datetime | None = None
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    moved: int = 0
    marked_deleted: int = 0
    batches: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"fetch": 0.0, "write": 0.0})


def stored_high_water_mark(conn: Connection) -> datetime | None:
    """The newest `updatedAt` the warehouse holds: where the next incremental window starts."""
    return conn.scalar(sa.select(sa.func.max(TASKS.c.task_updated_at)))


def _batches(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
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


def upsert_issue_batch(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Write one batch; returns counts of inserted, updated, unchanged and moved issues."""
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
        updates["deleted_at"] = None
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
            .values(last_sync_at=sa.func.now(), deleted_at=None)
        )
    return counts


def _mark_missing_deleted(conn: Connection, seen_table: str) -> int:
    result = conn.execute(
        sa.text(
            f"UPDATE tracker_tasks t SET deleted_at = now() "
            f"WHERE t.deleted_at IS NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {seen_table} s WHERE s.tracker_id = t.tracker_id)"
        )
    )
    return result.rowcount


def sync_issues(
    engine: Engine,
    source: IssueSource,
    *,
    base_query: str,
    fields: CustomFields,
    mode: SyncMode = "incremental",
    overlap: timedelta = timedelta(minutes=10),
    since: datetime | None = None,
    batch_size: int = 500,
    progress: Callable[[IssueSyncResult], None] | None = None,
    lock_wait_seconds: float = 3600.0,
) -> IssueSyncResult:
    """Fetch the issues the mode asks for and upsert them batch by batch.

    * incremental: issues updated since the stored high-water mark minus the
      overlap (all of them on the first sync), or since `since` when given;
    * full: every issue matching the query;
    * reconcile: every issue, and the ones no longer listed are marked deleted.

    Holds the sync write lock throughout: a concurrent sync waits for it.
    """
    with sync_lock(engine, wait_seconds=lock_wait_seconds) as waited:
        result = _sync_issues_locked(
            engine, source, base_query, fields, mode, overlap, since, batch_size, progress
        )
    result.seconds["lock_wait"] = waited
    return result


def _sync_issues_locked(
    engine: Engine,
    source: IssueSource,
    base_query: str,
    fields: CustomFields,
    mode: SyncMode,
    overlap: timedelta,
    since: datetime | None,
    batch_size: int,
    progress: Callable[[IssueSyncResult], None] | None,
) -> IssueSyncResult:
    with engine.connect() as conn:
        previous = stored_high_water_mark(conn)
    start = since if since is not None else previous
    query = incremental_query(base_query, start, overlap) if mode == "incremental" else base_query
    result = IssueSyncResult(mode=mode, query=query, previous_high_water_mark=previous)
    result.high_water_mark = previous

    seen_conn = engine.connect() if mode == "reconcile" else None
    try:
        if seen_conn is not None:
            seen_conn.execute(
                sa.text("CREATE TEMP TABLE seen_issues (tracker_id text PRIMARY KEY)")
            )
        issues = iter(source.search(query))
        while True:
            t0 = time.perf_counter()
            raw_batch = list(islice(issues, batch_size))
            result.seconds["fetch"] += time.perf_counter() - t0
            if not raw_batch:
                break
            t0 = time.perf_counter()
            rows = [issue_row(issue, fields) for issue in raw_batch]
            with unit_of_work(engine) as conn:
                counts = upsert_issue_batch(conn, rows)
            if seen_conn is not None:
                seen_conn.execute(
                    sa.text("INSERT INTO seen_issues VALUES (:t) ON CONFLICT DO NOTHING"),
                    [{"t": r["tracker_id"]} for r in rows],
                )
            result.seconds["write"] += time.perf_counter() - t0
            result.seen += len(rows)
            result.batches += 1
            for name, value in counts.items():
                setattr(result, name, getattr(result, name) + value)
            newest = max(r["task_updated_at"] for r in rows)
            if result.high_water_mark is None or newest > result.high_water_mark:
                result.high_water_mark = newest
            if progress is not None:
                progress(result)
        if seen_conn is not None:
            t0 = time.perf_counter()
            if result.seen == 0:
                with engine.connect() as conn:
                    active = conn.scalar(
                        sa.select(sa.func.count()).where(TASKS.c.deleted_at.is_(None))
                    )
                if active:
                    raise RuntimeError(
                        f"reconciliation listed no issue for {base_query!r} while {active} are "
                        "stored: refusing to mark them all deleted (check TRACKER_QUERY and access)"
                    )
            # The temp table lives in this connection's one transaction; the UPDATE joins it.
            result.marked_deleted = _mark_missing_deleted(seen_conn, "seen_issues")
            seen_conn.commit()
            result.seconds["write"] += time.perf_counter() - t0
    finally:
        if seen_conn is not None:
            seen_conn.rollback()
            seen_conn.close()
    return result
