"""The quarantine: records a sync could not store, with the reason, retried until they can be.

One bad record is normal in real data (a NUL byte, a missing key, a garbled
timestamp, one issue whose changelog answers HTML). It must never stop the
other 99.9%: the write path stores everything it can, puts the rest here and
finishes. Later syncs retry what is here; a record that stores cleanly is
resolved. An asset check shows what is open.

Kinds: `issue` (an issue payload that cannot be a row; ref = its Tracker id,
else its key, else a hash of the payload) and `changelog` (an issue whose
changelog could not be fetched or held bad entries; ref = the issue's id,
`retry_from` = the cursor a retry starts after).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from radiator_assets.storage.models import TrackerQuarantine
from radiator_assets.sync.payloads import HASH_PREFIX, clean_json, payload_ref

QUARANTINE = TrackerQuarantine.__table__
Kind = Literal["issue", "changelog"]
_MAX_PAYLOAD_CHARS = 100_000


@dataclass(frozen=True)
class BadRecord:
    """One record to quarantine."""

    kind: Kind
    ref: str
    reason: str
    issue_key: str | None = None
    payload: Any = None
    retry_from: str | None = None


def _storable(payload: Any) -> Any:
    """The payload as JSONB can hold it: cleaned, and summarised when it is huge."""
    if payload is None:
        return None
    cleaned = clean_json(payload)
    text = json.dumps(cleaned, ensure_ascii=False, default=str)
    if len(text) > _MAX_PAYLOAD_CHARS:
        return {"truncated": True, "start": text[:_MAX_PAYLOAD_CHARS]}
    return json.loads(text)


def _handle(value: Any) -> str | None:
    """An id or key that can name the issue in a request; None for anything else."""
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def bad_issue(payload: Any, reason: str) -> BadRecord:
    """A quarantine record for an issue payload, named by whatever handle it has."""
    payload = clean_json(payload)  # its id or key may hold what PostgreSQL cannot store
    issue = payload if isinstance(payload, dict) else {}
    tracker_id, key = _handle(issue.get("id")), _handle(issue.get("key"))
    ref = tracker_id or key or payload_ref(payload)
    return BadRecord(
        "issue",
        ref[:128],
        reason,
        issue_key=str(key)[:64] if key else None,
        payload=payload,
    )


def put(conn: Connection, records: Sequence[BadRecord]) -> int:
    """Quarantine `records` (again): reason, payload and cursor refreshed, attempts counted,
    a resolved record reopened. In the caller's transaction."""
    if not records:
        return 0
    rows = {
        (r.kind, r.ref): {
            "kind": r.kind,
            "ref": r.ref,
            "issue_key": r.issue_key,
            "reason": r.reason[:4000],
            "payload": _storable(r.payload),
            "retry_from": r.retry_from,
        }
        for r in records
    }
    stmt = insert(QUARANTINE)
    excluded = stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[QUARANTINE.c.kind, QUARANTINE.c.ref],
            set_={
                "issue_key": sa.func.coalesce(excluded.issue_key, QUARANTINE.c.issue_key),
                "reason": excluded.reason,
                "payload": excluded.payload,
                "retry_from": excluded.retry_from,
                "attempts": QUARANTINE.c.attempts + 1,
                "last_seen_at": sa.func.now(),
                "resolved_at": None,
                "resolution": None,
            },
        ).returning(QUARANTINE.c.id),
        list(rows.values()),
    ).all()
    return len(rows)


def resolve(conn: Connection, kind: Kind, refs: Sequence[str], resolution: str) -> int:
    """Close the open records of `kind` named by `refs`; returns how many."""
    if not refs:
        return 0
    return conn.execute(
        sa.update(QUARANTINE)
        .where(
            QUARANTINE.c.kind == kind,
            QUARANTINE.c.ref.in_(list(refs)),
            QUARANTINE.c.resolved_at.is_(None),
        )
        .values(resolved_at=sa.func.now(), resolution=resolution)
    ).rowcount


def open_refs(conn: Connection, kind: Kind, *, limit: int | None = None) -> list[str]:
    """Refs of the open records of `kind` that name an issue (not a payload hash), the least
    recently seen first (at most `limit`): a retry that fails again sees its record again,
    so a bounded batch of retries goes round them all."""
    query = (
        sa.select(QUARANTINE.c.ref)
        .where(
            QUARANTINE.c.kind == kind,
            QUARANTINE.c.resolved_at.is_(None),
            ~QUARANTINE.c.ref.startswith(HASH_PREFIX),
        )
        .order_by(QUARANTINE.c.last_seen_at, QUARANTINE.c.id)
        .limit(limit)
    )
    return list(conn.scalars(query))
