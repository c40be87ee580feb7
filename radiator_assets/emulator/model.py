"""In-memory state of an emulated Tracker organisation.

Records are copy-on-write: a mutation replaces an issue's `data` dict (and
`links` list) instead of editing it, so a scroll snapshot taken earlier keeps
serving the old versions and readers never see half-applied changes.
Changelogs are append-only lists; readers slice them under the lock.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

MOSCOW = timedelta(hours=3)
DEFAULT_NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def fmt_ts(value: datetime, moscow: bool = False) -> str:
    """Tracker's timestamp format, in UTC (`+0000`) or Moscow time (`+0300`).

    Hand-rolled instead of `strftime`: the generator formats hundreds of
    thousands of timestamps and this is several times faster.
    """
    d = value + MOSCOW if moscow else value
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        f".{d.microsecond // 1000:03d}{'+0300' if moscow else '+0000'}"
    )


def parse_ts(value: str) -> datetime:
    """A timestamp as `fmt_ts` writes it, back to an aware UTC datetime (the emulator reads
    its own output; the client's tolerant parser is the client's business)."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def to_millis(value: datetime) -> datetime:
    """Drop sub-millisecond digits: Tracker serialises milliseconds, and ground
    truth must equal what a parser reads back from the JSON."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def object_id(when: datetime, seq: int) -> str:
    """A 24-hex id like a MongoDB ObjectId: seconds since the epoch, then a counter.

    Ids made later (in emulated time, or later in generation within the same
    second) compare greater, which is what "changelog ids increase in time
    order per issue" needs.
    """
    return f"{int(when.timestamp()) & 0xFFFFFFFF:08x}{seq & 0xFFFFFFFFFFFFFFFF:016x}"


@dataclass
class IssueRecord:
    """One issue: served JSON plus the indexes and ground truth the emulator keeps."""

    id: str
    key: str
    queue: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    links: list[dict[str, Any]] = field(default_factory=list)
    changelog: list[dict[str, Any]] = field(default_factory=list)
    changelog_ids: list[str] = field(default_factory=list)
    # Ground truth: (status, start) for every stay, in order; the first starts at createdAt.
    walk: list[tuple[dict[str, str], datetime]] = field(default_factory=list)
    deleted: bool = False

    @property
    def status(self) -> dict[str, str]:
        return self.walk[-1][0]

    @property
    def aliases(self) -> list[str]:
        return list(self.data.get("aliases") or [])

    def append_entry(self, entry: dict[str, Any]) -> None:
        if self.changelog_ids and entry["id"] <= self.changelog_ids[-1]:
            raise ValueError("changelog ids must increase")
        self.changelog.append(entry)
        self.changelog_ids.append(entry["id"])

    def entries_after(self, cursor: str | None) -> int:
        """Index of the first entry after `cursor` (ids sort in time order)."""
        return bisect.bisect_right(self.changelog_ids, cursor) if cursor else 0


class Org:
    """All issues of the emulated organisation, indexed by id, key and old keys."""

    def __init__(self, *, now: datetime = DEFAULT_NOW, seed: int = 0) -> None:
        self.records: dict[str, IssueRecord] = {}
        self.order: list[str] = []
        self.by_key: dict[str, str] = {}
        self.key_counters: dict[str, int] = {}
        self.now = now
        self.seed = seed
        self.rng = random.Random(seed * 7919 + 17)
        self.lock = threading.RLock()
        self._seq = 0
        self._json_cache: dict[str, tuple[dict[str, Any], bytes]] = {}

    # --- ids, keys, clock ----------------------------------------------------
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def new_id(self, when: datetime) -> str:
        return object_id(when, self.next_seq())

    def new_key(self, queue: str) -> str:
        number = self.key_counters.get(queue, 0) + 1
        self.key_counters[queue] = number
        return f"{queue}-{number}"

    def tick(self, step: timedelta = timedelta(seconds=1)) -> datetime:
        """Current emulated time, then advance it: each mutation gets a distinct instant."""
        with self.lock:
            current = self.now
            self.now = current + step
            return current

    # --- access ----------------------------------------------------------------
    def add(self, record: IssueRecord) -> None:
        self.records[record.id] = record
        self.order.append(record.id)
        self.by_key[record.key] = record.id
        for alias in record.aliases:
            self.by_key[alias] = record.id

    def resolve(self, id_or_key: str) -> IssueRecord | None:
        """By id, current key or an old key; deleted issues resolve to None."""
        with self.lock:
            record = self.records.get(id_or_key)
            if record is None:
                rid = self.by_key.get(id_or_key) or self.by_key.get(id_or_key.upper())
                record = self.records.get(rid) if rid else None
            if record is None or record.deleted:
                return None
            return record

    def live(self) -> Iterator[IssueRecord]:
        """Live records in creation order (a snapshot of the order list)."""
        with self.lock:
            ids = list(self.order)
        for rid in ids:
            record = self.records[rid]
            if not record.deleted:
                yield record

    def __len__(self) -> int:
        return sum(1 for _ in self.live())

    @property
    def changelog_entry_count(self) -> int:
        return sum(len(r.changelog) for r in self.live())

    def replace_data(self, record: IssueRecord, **changes: Any) -> None:
        """Copy-on-write update of an issue's JSON (snapshots keep the old dict)."""
        data = dict(record.data)
        data.update(changes)
        record.data = data

    def issue_json(self, record_id: str, data: dict[str, Any]) -> bytes:
        """`data` serialised, cached while it is still the record's current version."""
        cached = self._json_cache.get(record_id)
        if cached is not None and cached[0] is data:
            return cached[1]
        encoded = json.dumps(data, ensure_ascii=False).encode()
        self._json_cache[record_id] = (data, encoded)
        return encoded
