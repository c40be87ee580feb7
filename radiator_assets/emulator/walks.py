"""Random status walks through the two workflows.

A walk is the list of status changes `(to_status, at)` an issue went through
after creation; the generator turns it into changelog entries and keeps it as
ground truth. The walks deliberately include what real boards contain and
the metrics must survive: pauses, cancellations, clicks through a status
shorter than five minutes, reopened tasks, returns to testing, skipped steps,
and tasks abandoned mid-way (still open).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from radiator_assets.emulator.catalog import (
    CANCELLED,
    CPO_DONE,
    CPO_DONE_STATUSES,
    CPO_DONE_WITH_IT,
    CPO_IN_DEV,
    CPO_PATH,
    FS_DONE,
    FS_IN_PROGRESS,
    FS_PATH,
    FS_TESTING,
    PAUSED,
    Status,
)
from radiator_assets.emulator.model import to_millis

Walk = list[tuple[Status, datetime]]

_CPO_ALL: tuple[Status, ...] = (*CPO_PATH, *CPO_DONE_STATUSES, PAUSED)
_FS_ALL: tuple[Status, ...] = (*FS_PATH, FS_DONE)
_IN_DEV_INDEX = CPO_PATH.index(CPO_IN_DEV)
_FS_TESTING_INDEX = FS_PATH.index(FS_TESTING)
_FS_IN_PROGRESS_INDEX = FS_PATH.index(FS_IN_PROGRESS)


@dataclass(frozen=True)
class WalkProfile:
    """Probabilities per step; `max_changes` caps a walk (the light profile)."""

    p_stop: float = 0.05
    p_cancel: float = 0.03
    p_pause: float = 0.07
    p_click: float = 0.05
    p_skip: float = 0.08
    p_back: float = 0.05
    p_reopen: float = 0.10
    p_test_return: float = 0.30
    max_changes: int | None = None


class _Walker:
    def __init__(
        self, rng: random.Random, created: datetime, limit: datetime, max_changes: int | None
    ) -> None:
        self.rng = rng
        self.now = created
        self.limit = limit
        self.walk: Walk = []
        self.max_changes = max_changes

    def full(self) -> bool:
        return self.max_changes is not None and len(self.walk) >= self.max_changes

    def step(self, to: Status, after: timedelta) -> bool:
        """Move to `to` after `after`; False when that would pass the limit or the cap."""
        when = to_millis(self.now + after)
        if when >= self.limit or self.full():
            return False
        self.now = when
        self.walk.append((to, when))
        return True


def stay_length(rng: random.Random) -> timedelta:
    """Mostly days, sometimes hours, occasionally weeks."""
    r = rng.random()
    if r < 0.25:
        return timedelta(hours=rng.uniform(0.2, 20))
    if r < 0.9:
        return timedelta(days=min(45.0, rng.lognormvariate(0.9, 0.8)))
    return timedelta(days=rng.uniform(14, 60))


def click_length(rng: random.Random) -> timedelta:
    """An accidental stay: under the five-minute short-stay threshold."""
    return timedelta(seconds=rng.randint(5, 240))


def cpo_walk(rng: random.Random, created: datetime, limit: datetime, profile: WalkProfile) -> Walk:
    """Product workflow: backlog -> discovery -> ready -> development -> external
    test -> ready for release -> done, with detours."""
    w = _Walker(rng, created, limit, profile.max_changes)
    i = 0
    current = CPO_PATH[0]
    while not w.full():
        if rng.random() < profile.p_stop:
            break
        r = rng.random()
        stay = stay_length(rng)
        p = profile
        if r < p.p_cancel:
            w.step(CANCELLED, stay)
            break
        r -= p.p_cancel
        if r < p.p_pause:
            if not (w.step(PAUSED, stay) and w.step(current, stay_length(rng))):
                break
            continue
        r -= p.p_pause
        if r < p.p_click:
            other = rng.choice([s for s in _CPO_ALL if s is not current])
            if not (w.step(other, stay) and w.step(current, click_length(rng))):
                break
            continue
        r -= p.p_click
        if r < p.p_back and i > _IN_DEV_INDEX:
            i -= 1
            current = CPO_PATH[i]
            if not w.step(current, stay):
                break
            continue
        i += 2 if (rng.random() < p.p_skip and i + 2 < len(CPO_PATH)) else 1
        if i < len(CPO_PATH):
            current = CPO_PATH[i]
            if not w.step(current, stay):
                break
            continue
        done = CPO_DONE if rng.random() < 0.8 else CPO_DONE_WITH_IT
        if not w.step(done, stay):
            break
        r = rng.random()
        if r < p.p_reopen:
            i = _IN_DEV_INDEX
            current = CPO_PATH[i]
            if not w.step(current, stay_length(rng)):
                break
            continue
        # Done -> paused -> done again: completion is the last done.
        if r < p.p_reopen + 0.04 and w.step(PAUSED, stay_length(rng)):
            w.step(done, stay_length(rng))
        break
    return w.walk


def fullstack_walk(
    rng: random.Random, created: datetime, limit: datetime, profile: WalkProfile
) -> Walk:
    """Implementation workflow with returns to work from testing, external test
    and regression (the "testing returns" metric counts these)."""
    w = _Walker(rng, created, limit, profile.max_changes)
    i = 0
    current = FS_PATH[0]
    while not w.full():
        if rng.random() < profile.p_stop:
            break
        stay = stay_length(rng) / 2
        r = rng.random()
        if r < profile.p_cancel:
            w.step(CANCELLED, stay)
            break
        r -= profile.p_cancel
        if r < profile.p_click:
            other = rng.choice([s for s in _FS_ALL if s is not current])
            if not (w.step(other, stay) and w.step(current, click_length(rng))):
                break
            continue
        if current in FS_PATH[_FS_TESTING_INDEX:] and rng.random() < profile.p_test_return:
            # Back to work, or (from regression) back to testing.
            i = _FS_TESTING_INDEX if i == len(FS_PATH) - 1 else _FS_IN_PROGRESS_INDEX
            current = FS_PATH[i]
            if not w.step(current, stay):
                break
            continue
        i += 1
        if i < len(FS_PATH):
            current = FS_PATH[i]
            if not w.step(current, stay):
                break
            continue
        if w.step(FS_DONE, stay) and rng.random() < profile.p_reopen / 3:
            i = _FS_TESTING_INDEX
            current = FS_PATH[i]
            if w.step(current, stay_length(rng)):
                continue
        break
    return w.walk
