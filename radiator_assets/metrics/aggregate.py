"""Aggregates of per-task values: count, mean, median, 85th percentile, max and
how many are over a threshold. Pure Python (no numpy).

The percentile is linear interpolation between closest ranks on the sorted
values: rank `r = q * (n - 1)` (0-based), value `x[floor r] + (r - floor r) *
(x[floor r + 1] - x[floor r])`. So p85 of [1, 2, 3, 4, 5] is 4.4 (r = 3.4) and of
[1, 2, 3] is 2.7 (r = 1.7). (This coincides with numpy's default "linear"
method, which the predecessor used.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) by linear interpolation between closest ranks;
    None for no values."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must be within [0, 1], got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def p85(values: Iterable[float]) -> float | None:
    """85th percentile (see `percentile`)."""
    return percentile(values, 0.85)


def median(values: Iterable[float]) -> float | None:
    return percentile(values, 0.5)


def over_threshold(values: Iterable[float | None], threshold: float) -> int:
    """How many values are strictly greater than `threshold` (None ignored)."""
    return sum(1 for v in values if v is not None and v > threshold)


@dataclass(frozen=True)
class Summary:
    """Statistics of one group; None statistics when `count` is 0."""

    count: int
    mean: float | None
    median: float | None
    p85: float | None
    max: float | None
    #: values strictly above the threshold (None when no threshold was given)
    over_threshold: int | None = None
    threshold: float | None = None


def summarize(values: Iterable[float | None], *, threshold: float | None = None) -> Summary:
    """Summary of `values`; None values (metric not defined for a task) are skipped."""
    present: Sequence[float] = sorted(v for v in values if v is not None)
    n = len(present)
    over = None if threshold is None else over_threshold(present, threshold)
    if n == 0:
        return Summary(0, None, None, None, None, over, threshold)
    return Summary(
        count=n,
        mean=sum(present) / n,
        median=median(present),
        p85=p85(present),
        max=present[-1],
        over_threshold=over,
        threshold=threshold,
    )


def group_summaries(
    items: Iterable[T],
    *,
    key: Callable[[T], K | None],
    value: Callable[[T], float | None],
    threshold: float | None = None,
) -> dict[K, Summary]:
    """One `Summary` per group key, e.g. key=(period, team) or (period, lead).

    Items whose key is None (e.g. no period) are left out; groups where every
    value is None still appear, with count 0. Keys keep first-seen order."""
    groups: dict[K, list[float | None]] = {}
    for item in items:
        k = key(item)
        if k is None:
            continue
        groups.setdefault(k, []).append(value(item))
    return {k: summarize(vals, threshold=threshold) for k, vals in groups.items()}
