"""Status stays and the history clean-up every metric starts from.

A `Stay` is one period a task spent in one status: `(status, start, end)`, `end`
None for the current stay. All datetimes are timezone-aware and normalised to
UTC. The functions here are pure: no configuration, no database.

* `clip_to_as_of`: everything after `as_of` is invisible: stays starting after
  it are dropped, an `end` after it is cleared (the stay becomes open).
* `filter_short_stays`: the spec's short-stay filter (mis-clicks do not count).
* `floor_days`: calendar days between two instants, rounded down, never < 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY = timedelta(days=1)


def ensure_utc(moment: datetime, what: str = "datetime") -> datetime:
    """`moment` in UTC; raises ValueError for a naive datetime (no silent guessing)."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Stay:
    """One stay in one status; `end` is None while the task is still in it."""

    status: str
    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ensure_utc(self.start, "Stay.start"))
        if self.end is not None:
            object.__setattr__(self, "end", ensure_utc(self.end, "Stay.end"))

    @property
    def is_open(self) -> bool:
        return self.end is None

    def end_at(self, as_of: datetime) -> datetime:
        """The stay's end, or `as_of` for an open stay."""
        return self.end if self.end is not None else as_of

    def seconds(self, as_of: datetime) -> float:
        """Length in seconds, an open stay measured up to `as_of`."""
        return (self.end_at(as_of) - self.start).total_seconds()

    def is_valid(self, min_stay_seconds: float) -> bool:
        """Open, or closed and at least `min_stay_seconds` long (the spec's "valid" stay)."""
        return self.end is None or (self.end - self.start).total_seconds() >= min_stay_seconds


_new = object.__new__
_set = object.__setattr__


def _trusted_stay(status: str, start: datetime, end: datetime | None) -> Stay:
    """A `Stay` from the parts of stays already checked (UTC-aware): the clean-up
    functions below rebuild stays from their inputs' fields, so `__post_init__`'s
    checks, the largest cost of a task's metrics, would only repeat themselves."""
    stay = _new(Stay)
    _set(stay, "status", status)
    _set(stay, "start", start)
    _set(stay, "end", end)
    return stay


def floor_days(start: datetime, end: datetime) -> int:
    """Whole calendar days from `start` to `end`: `floor(seconds / 86400)`, never below 0."""
    return max(0, (end - start) // DAY)


def sort_stays(stays: Iterable[Stay]) -> list[Stay]:
    """Stays ordered by start (stable for equal starts)."""
    return sorted(stays, key=lambda stay: stay.start)


def clip_to_as_of(stays: Iterable[Stay], as_of: datetime) -> list[Stay]:
    """Sorted stays as seen at `as_of`.

    A stay starting after `as_of` is dropped (one starting exactly at it is kept);
    an `end` after `as_of` is cleared, so the stay is open and measured to `as_of`."""
    as_of = ensure_utc(as_of, "as_of")
    clipped: list[Stay] = []
    for stay in sort_stays(stays):
        if stay.start > as_of:
            continue
        if stay.end is not None and stay.end > as_of:
            stay = _trusted_stay(stay.status, stay.start, None)
        clipped.append(stay)
    return clipped


def filter_short_stays(stays: Iterable[Stay], min_stay_seconds: float) -> list[Stay]:
    """The short-stay filter; `min_stay_seconds <= 0` disables it (sorted input returned).

    1. sort by start; the first and the last stay are always kept;
    2. any other stay whose gap to the *next* stay's start (in the sorted input)
       is under `min_stay_seconds` is dropped;
    3. a kept stay is merged into the previous kept stay when both have the same
       status (exact display-name equality).

    Reading: a kept stay absorbs the dropped stays after it (its end becomes the
    end of the last dropped one, i.e. the next kept stay's start for a contiguous
    history), and a merged stay spans both parts. The result is idempotent."""
    ordered = sort_stays(stays)
    if min_stay_seconds <= 0 or not ordered:
        return ordered
    last = len(ordered) - 1
    kept = [
        i
        for i in range(len(ordered))
        if i in (0, last)
        or (ordered[i + 1].start - ordered[i].start).total_seconds() >= min_stay_seconds
    ]
    result: list[Stay] = []
    for n, i in enumerate(kept):
        following = kept[n + 1] if n + 1 < len(kept) else len(ordered)
        stay = ordered[i]
        if following != i + 1:  # it absorbs the dropped stays after it
            stay = _trusted_stay(stay.status, stay.start, ordered[following - 1].end)
        if result and result[-1].status == stay.status:
            result[-1] = _trusted_stay(stay.status, result[-1].start, stay.end)
        else:
            result.append(stay)
    return result


def stays_from_transitions(
    created: datetime,
    initial_status: str,
    transitions: Sequence[tuple[datetime, str]],
) -> list[Stay]:
    """Build a contiguous history: the first stay from `created` in `initial_status`,
    then one stay per `(moment, new_status)` transition (sorted by moment)."""
    stays: list[Stay] = []
    status, start = initial_status, created
    for moment, new_status in sorted(transitions, key=lambda t: t[0]):
        stays.append(Stay(status, start, moment))
        status, start = new_status, moment
    stays.append(Stay(status, start, None))
    return stays
