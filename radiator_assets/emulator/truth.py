"""Ground truth for tests: the status stays each emulated issue really had.

`expected_stays` reads the walk the generator (and later mutations) recorded,
not the served JSON, so a test can check a changelog parser against an
independent answer. `stays_from_changelog` applies the metric spec's rule to
served JSON; the emulator's own tests use it to prove the two agree.

Rule (shared/spec/metrics.md): the first stay starts at `createdAt` in the
status the first status change came *from*; every status change opens a new
stay and closes the previous one; no status change -> one open stay in the
current status from `createdAt`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from radiator_assets.emulator.model import IssueRecord, Org, parse_ts


@dataclass(frozen=True)
class Stay:
    """One stay: status key and display, start, end (None while it is the current one)."""

    status_key: str
    status_display: str
    start: datetime
    end: datetime | None


def _stays(walk: list[tuple[dict[str, str], datetime]]) -> list[Stay]:
    stays = []
    for i, (status, start) in enumerate(walk):
        end = walk[i + 1][1] if i + 1 < len(walk) else None
        stays.append(Stay(status["key"], status["display"], start, end))
    return stays


def record_stays(record: IssueRecord) -> list[Stay]:
    return _stays(record.walk)


def expected_stays(org: Org, id_or_key: str) -> list[Stay]:
    """The stays of one issue, from the generator's own record (not from JSON)."""
    with org.lock:
        record = org.records.get(id_or_key) or org.records.get(org.by_key.get(id_or_key, ""))
        if record is None:
            raise KeyError(id_or_key)
        return _stays(list(record.walk))


def all_expected_stays(org: Org) -> dict[str, list[Stay]]:
    """Stays of every live issue, by issue id."""
    return {r.id: record_stays(r) for r in org.live()}


def stays_from_changelog(issue: dict[str, Any], entries: Iterable[dict[str, Any]]) -> list[Stay]:
    """The metric spec's rule applied to served issue JSON and its changelog."""
    created = parse_ts(issue["createdAt"])
    changes: list[tuple[datetime, dict[str, str], dict[str, str]]] = []
    for entry in entries:
        for change in entry.get("fields") or ():
            if (change.get("field") or {}).get("id") == "status":
                at = parse_ts(entry["updatedAt"])
                changes.append((at, change.get("from") or {}, change.get("to") or {}))
    if not changes:
        status = issue["status"]
        return [Stay(status["key"], status["display"], created, None)]
    walk = [(changes[0][1], created)] + [(to, at) for at, _, to in changes]
    return _stays(walk)
