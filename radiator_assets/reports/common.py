"""What every report build shares: its inputs (`ReportInputs`) and its outcome (`ReportResult`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.metrics.stays import ensure_utc

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class ReportInputs:
    """The configuration and the instant the reports describe."""

    config: MetricsConfig
    as_of: datetime

    @classmethod
    def of(cls, config: MetricsConfig, as_of: datetime) -> ReportInputs:
        return cls(config, ensure_utc(as_of, "as_of"))


@dataclass
class ReportResult:
    """A built report: its table, row count, timings, and what the asset metadata shows."""

    table: str
    rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    #: the rows of the Markdown preview (column -> value), most interesting first
    preview: list[dict[str, Any]] = field(default_factory=list)
    #: "what crossed which threshold" counts, e.g. {"ttm > 180": 3}
    thresholds: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def monday_of(moment: datetime | date) -> date:
    """The Monday (UTC) of the ISO week containing `moment`."""
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def last_full_week_end(as_of: datetime) -> datetime:
    """The latest Monday 00:00 UTC at or before `as_of`: where the last full week ends."""
    return midnight(monday_of(as_of))


class TopN:
    """The `n` largest items by `key` seen so far, memory O(n)."""

    def __init__(self, n: int, key: Any) -> None:
        self.n = n
        self.key = key
        self._items: list[Any] = []

    def add(self, item: Any) -> None:
        self._items.append(item)
        if len(self._items) >= 4 * self.n:
            self._trim()

    def _trim(self) -> None:
        self._items.sort(key=self.key, reverse=True)
        del self._items[self.n :]

    def items(self) -> list[Any]:
        self._trim()
        return list(self._items)


def natural_key(column: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    """ORDER BY terms that sort task keys naturally (every export orders by them): the
    text before the trailing number, that number (numeric: CPO-2 before CPO-10), then
    the key itself (ties such as CPO-02 / CPO-2). A key without a trailing number has no
    numeric part; its text decides (CPO before CPO-1)."""
    return [
        sa.func.regexp_replace(column, "[0-9]+$", ""),
        sa.cast(sa.func.substring(column, "([0-9]+)$"), sa.Numeric),
        column,
    ]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block (restored after it).

    A report pass allocates a few hundred thousand short-lived objects per batch
    (stays, metrics, rows), none of them in reference cycles, so reference
    counting frees them all; the collector only re-scanned them, about a fifth of
    the pass's CPU time. Memory stays bounded by the batch either way."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
