"""Ad-hoc sync of given issues: `radiator sync --keys FILE` and `radiator sync --query Q`.

Decisions:

* Only the given issues are touched. The listing of the configured query is not
  involved: the incremental mark (`tracker_sync_state`) does not move, nothing is
  marked deleted or out of the query, and `out_of_query_since` of a given issue is
  left as the last reconciliation set it. The next incremental sync lists from the
  same mark as before, so it still sees everything that changed.
* A query is resolved to keys first (one scroll of `id,key` only), then treated as
  keys: the key list is stored with the progress, so a rerun continues with the same
  issues even if the query's answer moved meanwhile.
* Keys go to Tracker in batches (`batch_size`, 100 by default) through the paged
  search with a `keys` body (scroll refuses keys). One batch is one transaction:
  the snapshots, the quarantine of payloads that cannot be rows, and the batch's row
  in `tracker_key_sync_batches` saying it is stored. A run killed half-way and started
  again with the same input skips the stored batches.
* A given issue's changelog is read after its cursor even when its snapshot did not
  change (whoever names issues wants them checked): the batch's transaction marks
  them pending (`changelog_synced_updated_at = NULL`), and the `tracker_changelog`
  step fetches them with the existing rule (entries and cursor committed together).
* An input counts as finished once every batch is stored and none of its issues
  still waits for its changelog (outside the quarantine, which every sync retries);
  the same input given again after that is a new sync (its old progress rows are
  replaced), given again before that it resumes.
* A key the search does not return is asked for directly (GET, which also resolves
  old keys): 404 is reported as not found, 403 as hidden from this token, and
  nothing is deleted for it; an issue the GET does return is stored.
* Given issues the configured query does not match are stored like the others and
  count in the reports, until the next reconciliation (nightly) marks them out of the
  query, by design. So that this is no surprise, the sync asks Tracker which of the
  input's issues the configured query matches (`(<query>) AND Key: ...`, one search
  of ids per batch of keys, by their current keys) and reports the others
  (`outside_query`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.metrics.config import CustomFields
from radiator_assets.storage.models import TrackerKeySyncBatch, TrackerTask
from radiator_assets.sync.issues import IssueSyncResult, store_issue_batch
from radiator_assets.sync.locking import SyncWriter
from radiator_assets.sync.quarantine import QUARANTINE
from radiator_assets.tracker.errors import AccessDenied, IssueGone, TrackerError

log = logging.getLogger(__name__)

BATCHES = TrackerKeySyncBatch.__table__
TASKS = TrackerTask.__table__
KEYS_PER_BATCH = 100
KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-[0-9]+$")


class KeyInputError(ValueError):
    """The given keys cannot be used (a malformed key, or none at all)."""


class KeySource(Protocol):
    def search(
        self, query: str, *, fields: Sequence[str] | None = None, expand_links: bool | None = None
    ) -> Generator[dict[str, Any]]: ...

    def search_keys(self, keys: Sequence[str]) -> list[dict[str, Any]]: ...

    def get_issue(self, id_or_key: str) -> dict[str, Any]: ...


def parse_keys(lines: Iterable[str]) -> list[str]:
    """Issue keys, one a line: blank lines and `#` comments (whole-line or trailing) are
    ignored, keys are upper-cased and each is kept once, in the order given. Every
    malformed line is named in one `KeyInputError`."""
    keys: dict[str, None] = {}
    wrong: list[str] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if KEY_PATTERN.match(text):
            keys[text.upper()] = None
        else:
            wrong.append(f"line {number}: {text[:40]!r}")
    if wrong:
        shown = "; ".join(wrong[:5]) + (f"; and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        raise KeyInputError(f"not an issue key like CPO-123: {shown}")
    if not keys:
        raise KeyInputError("no issue key given (blank lines and # comments only)")
    return list(keys)


def input_hash(*, keys: Sequence[str] | None = None, query: str | None = None) -> str:
    """The name of an input in `tracker_key_sync_batches`: keys in their order, or a query."""
    if (keys is None) == (query is None):
        raise ValueError("give keys or a query, not both")
    text = "query\n" + query.strip() if query is not None else "keys\n" + "\n".join(keys or ())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class KeySyncResult(IssueSyncResult):
    """What an ad-hoc sync did; `seen` counts the issues found this run."""

    keys_given: int = 0
    batches_total: int = 0
    batches_stored_before: int = 0  # by an earlier, interrupted run of the same input
    not_found: list[str] = field(default_factory=list)  # every batch, earlier runs' too
    hidden: list[str] = field(default_factory=list)
    #: the input's stored issues (current keys) the configured query does not match
    outside_query: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Batch:
    number: int
    keys: list[str]


@dataclass
class _Found:
    issues: list[dict[str, Any]] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)


def sync_by_keys(
    writer: SyncWriter,
    source: KeySource,
    *,
    fields: CustomFields,
    keys: Sequence[str] | None = None,
    query: str | None = None,
    batch_size: int = KEYS_PER_BATCH,
    run_id: str | None = None,
    progress: Callable[[KeySyncResult], None] | None = None,
    configured_query: str = "",
) -> KeySyncResult:
    """Store the snapshots of the given issues (by `keys`, or those `query` matches now),
    batch by batch, skipping batches an interrupted run of the same input stored; then
    list those `configured_query` (TRACKER_QUERY; blank: everything) does not match."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    digest = input_hash(keys=keys, query=query)
    mode = "query" if query is not None else "keys"
    shown = query if query is not None else f"{len(keys or ())} keys"
    result = KeySyncResult(mode=mode, query=shown, previous_high_water_mark=None)
    batches = _unfinished_batches(writer, digest)
    if batches is None:
        given = list(keys) if keys is not None else _keys_of_query(source, query or "")
        batches = _plan(writer, digest, given, batch_size)
    with writer.engine.connect() as conn:
        result.batches_total = conn.scalar(_count_batches(digest)) or 0
        result.keys_given = conn.scalar(
            sa.select(
                sa.func.coalesce(sa.func.sum(sa.func.cardinality(BATCHES.c["keys"])), 0)
            ).where(BATCHES.c.input_hash == digest)
        )
    result.batches_stored_before = result.batches_total - len(batches)
    for batch in batches:
        t0 = time.perf_counter()
        found = _fetch(source, batch.keys)
        result.seconds["fetch"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        with writer.transaction() as conn:
            stored = store_issue_batch(conn, found.issues, fields, result, listed_by_query=False)
            _finish_batch(conn, digest, batch, stored, found, run_id)
        result.seconds["write"] += time.perf_counter() - t0
        result.seen += len(found.issues)
        result.batches += 1
        if progress is not None:
            progress(result)
    _report_missing(writer, digest, result)
    t0 = time.perf_counter()
    result.outside_query = _outside_query(writer, source, digest, configured_query, batch_size)
    result.seconds["query_check"] = time.perf_counter() - t0
    result.listing_complete = True
    return result


def _count_batches(digest: str) -> sa.Select[Any]:
    return sa.select(sa.func.count()).where(BATCHES.c.input_hash == digest)


def _unfinished_batches(writer: SyncWriter, digest: str) -> list[_Batch] | None:
    """The batches still to store of an unfinished earlier run of this input (empty when
    only changelogs are left); None when there is none (never run, or finished)."""
    with writer.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                BATCHES.c.batch_no, BATCHES.c["keys"].label("batch_keys"), BATCHES.c.stored_at
            )
            .where(BATCHES.c.input_hash == digest)
            .order_by(BATCHES.c.batch_no)
        ).all()
        if not rows:
            return None
        left = [_Batch(r.batch_no, list(r.batch_keys)) for r in rows if r.stored_at is None]
        if left or _changelogs_pending(conn, digest):
            return left
    return None


def _changelogs_pending(conn: Connection, digest: str) -> bool:
    """Whether an issue this input stored still waits for its changelog (one in the
    quarantine does not: every sync retries it, and it must not hold the input open)."""
    ids = (
        sa.select(sa.func.unnest(BATCHES.c.tracker_ids))
        .where(BATCHES.c.input_hash == digest)
        .scalar_subquery()
    )
    quarantined = sa.exists().where(
        QUARANTINE.c.kind == "changelog",
        QUARANTINE.c.ref == TASKS.c.tracker_id,
        QUARANTINE.c.resolved_at.is_(None),
    )
    return bool(
        conn.scalar(
            sa.select(
                sa.exists().where(
                    TASKS.c.tracker_id.in_(ids),
                    TASKS.c.deleted_at.is_(None),
                    TASKS.c.changelog_synced_updated_at.is_distinct_from(TASKS.c.task_updated_at),
                    ~quarantined,
                )
            )
        )
    )


def _keys_of_query(source: KeySource, query: str) -> list[str]:
    """The keys of the issues `query` matches now: one scroll of `id,key` only."""
    with closing(source.search(query, fields=["id", "key"], expand_links=False)) as issues:
        keys = {
            str(issue["key"]).upper(): None
            for issue in issues
            if isinstance(issue, dict) and isinstance(issue.get("key"), str)
        }
    return list(keys)


def _plan(writer: SyncWriter, digest: str, keys: Sequence[str], size: int) -> list[_Batch]:
    """The input's batches, written in one transaction (a finished run's rows replaced)."""
    batches = [
        _Batch(number, list(keys[start : start + size]))
        for number, start in enumerate(range(0, len(keys), size), start=1)
    ]
    with writer.transaction() as conn:
        conn.execute(sa.delete(BATCHES).where(BATCHES.c.input_hash == digest))
        if batches:
            conn.execute(
                sa.insert(BATCHES),
                [{"input_hash": digest, "batch_no": b.number, "keys": b.keys} for b in batches],
            )
    return batches


def _names(issue: dict[str, Any]) -> set[str]:
    """The keys an issue answers to: its key and its earlier keys, upper-cased."""
    names = {str(issue.get("key") or "").upper()}
    aliases = issue.get("aliases")
    if isinstance(aliases, list):
        names |= {str(a).upper() for a in aliases}
    return names - {""}


def _fetch(source: KeySource, keys: list[str]) -> _Found:
    """The batch's issues: one search by keys, then a GET of each key it did not return."""
    found = _Found()
    by_id: dict[str, dict[str, Any]] = {}
    for issue in source.search_keys(keys):
        if isinstance(issue, dict) and issue.get("id") is not None:
            by_id[str(issue["id"])] = issue
        else:
            found.issues.append(issue)  # no id: the quarantine judges it
    answered = set().union(*(_names(issue) for issue in by_id.values()))
    for key in keys:
        if key in answered:
            continue
        try:
            issue = source.get_issue(key)
        except IssueGone:
            found.not_found.append(key)
            continue
        except AccessDenied:
            found.hidden.append(key)
            continue
        by_id.setdefault(str(issue.get("id")), issue)
    found.issues.extend(by_id.values())
    return found


def _finish_batch(
    conn: Connection,
    digest: str,
    batch: _Batch,
    stored: list[dict[str, Any]],
    found: _Found,
    run_id: str | None,
) -> None:
    """In the batch's transaction: its issues wait for their changelog, and its row says
    it is stored."""
    ids = [row["tracker_id"] for row in stored]
    if ids:
        conn.execute(
            sa.update(TASKS)
            .where(TASKS.c.tracker_id.in_(ids))
            .values(changelog_synced_updated_at=None)
        )
    conn.execute(
        sa.update(BATCHES)
        .where(BATCHES.c.input_hash == digest, BATCHES.c.batch_no == batch.number)
        .values(
            stored_at=sa.func.now(),
            tracker_ids=ids,
            not_found=found.not_found,
            hidden=found.hidden,
            dagster_run_id=run_id,
        )
    )


def _report_missing(writer: SyncWriter, digest: str, result: KeySyncResult) -> None:
    """Every key of the input Tracker did not give us, this run's and earlier runs'."""
    with writer.engine.connect() as conn:
        rows = conn.execute(
            sa.select(BATCHES.c.not_found, BATCHES.c.hidden)
            .where(BATCHES.c.input_hash == digest)
            .order_by(BATCHES.c.batch_no)
        ).all()
    result.not_found = [key for row in rows for key in row.not_found]
    result.hidden = [key for row in rows for key in row.hidden]
    for key in result.not_found:
        log.warning("issue %s: Tracker does not know this key (404); nothing stored", key)
    for key in result.hidden:
        log.warning("issue %s is hidden from this token (403); nothing stored", key)


def _outside_query(
    writer: SyncWriter, source: KeySource, digest: str, configured_query: str, batch_size: int
) -> list[str]:
    """The input's stored issues (current keys, in key order) that `configured_query`
    does not match: per batch of keys, one search of `(<query>) AND Key: ...` for ids."""
    base = configured_query.strip()
    if not base:
        return []
    ids = (
        sa.select(sa.func.unnest(BATCHES.c.tracker_ids))
        .where(BATCHES.c.input_hash == digest)
        .scalar_subquery()
    )
    with writer.engine.connect() as conn:
        stored = conn.execute(
            sa.select(TASKS.c.tracker_id, TASKS.c.key)
            .where(TASKS.c.tracker_id.in_(ids), TASKS.c.deleted_at.is_(None))
            .order_by(TASKS.c.key)
        ).all()
    outside: list[str] = []
    for start in range(0, len(stored), batch_size):
        chunk = stored[start : start + batch_size]
        try:
            matched = _ids_matching(source, base, [row.key for row in chunk])
        except TrackerError as exc:
            # Only a warning rides on this question: the issues are stored, so the sync
            # must not fail for it. Tracker may refuse the combined query.
            log.warning(
                "could not ask Tracker which given issues the configured query matches (%s); "
                "issues outside it leave the reports at the next reconciliation",
                exc,
            )
            return outside
        outside.extend(row.key for row in chunk if row.tracker_id not in matched)
    if outside:  # the CLI summary and the run metadata warn the user
        log.info(
            "%d given issue(s) are outside the configured query %r; the next reconciliation "
            "marks them out of the query: %s",
            len(outside),
            base,
            ", ".join(outside[:20]),
        )
    return outside


def _ids_matching(source: KeySource, base: str, keys: Sequence[str]) -> set[str]:
    """The ids of the issues among `keys` that the query `base` matches."""
    named = ", ".join(f'"{key}"' for key in keys)
    query = f"({base}) AND Key: {named}"
    with closing(source.search(query, fields=["id", "key"], expand_links=False)) as issues:
        return {str(i["id"]) for i in issues if isinstance(i, dict) and i.get("id") is not None}
