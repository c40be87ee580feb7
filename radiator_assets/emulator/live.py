"""A living emulated organisation: its clock follows real time and its work moves on.

`Churn` runs beside a serving `TrackerEmulator` (`radiator demo --serve`,
`radiator emulator --churn-seconds N`) so that a sensor polling it finds news. Every
`seconds` a background thread takes one step, under the org lock (one step is one
atomic change for readers):

* the emulated clock catches up with the real one (`mutations.advance_clock`), to the
  whole second: it never goes backwards, and when mutations (one second each) have run
  it ahead of real time it waits for real time to pass it;
* `moves` issues move one status along their workflow (`mutations.add_changes`), chosen
  among the unfinished ones so that work flows to done (any live issue once none is left);
* every `create_every`-th step a new issue appears in CPO or FULLSTACK, and every
  `delete_every`-th step one issue untouched by that step is deleted
  (`mutations.delete_issue`): a regular cadence a person watching can follow.

Which issues move, which queue and team a new issue gets and which one is deleted come
from `random.Random(seed)` over the organisation's issues in creation order, so the
same seed and org give the same steps; only timestamps follow the injected clock.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from radiator_assets.emulator import mutations
from radiator_assets.emulator.catalog import (
    AUTHORS,
    IMPLEMENTATION_QUEUE,
    PRODUCT_QUEUE,
    TEAMS,
)
from radiator_assets.emulator.generator import RESOLVED_STATUSES
from radiator_assets.emulator.model import IssueRecord, Org

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Real time, UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ChurnStep:
    """What one step did: the issues moved (key, new status), the issue created and the
    one deleted (keys, or None), and the emulated clock after the step."""

    number: int
    now: datetime
    moved: tuple[tuple[str, str], ...]
    created: str | None
    deleted: str | None

    def describe(self) -> str:
        """One line for a person watching the demo."""
        parts = [", ".join(f"{key} -> {status}" for key, status in self.moved) or "no move"]
        if self.created:
            parts.append(f"created {self.created}")
        if self.deleted:
            parts.append(f"deleted {self.deleted}")
        return f"[{self.now:%H:%M:%S} UTC] step {self.number}: " + "; ".join(parts)


def _every(n: int) -> str:
    """`every step`, `every 2nd step`, `every 11th step`."""
    if n == 1:
        return "every step"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"every {n}{suffix} step"


class Churn:
    """Moves an emulated organisation on every `seconds` in a background thread.

    `start()`/`stop()` or a `with` block; `stop()` joins the thread. `step()` takes one
    step at once (the thread calls it too). A failing step is logged and kept in
    `errors`; the next step runs anyway, a live demo should outlive one bad step.
    `on_step` is called after each step, outside the org lock.
    """

    def __init__(
        self,
        org: Org,
        *,
        seconds: float,
        seed: int = 0,
        moves: int = 3,
        create_every: int = 2,
        delete_every: int = 5,
        clock: Clock = wall_clock,
        on_step: Callable[[ChurnStep], None] | None = None,
    ) -> None:
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        if moves < 0 or create_every < 1 or delete_every < 1:
            raise ValueError("moves must be >= 0, create_every and delete_every >= 1")
        self.org = org
        self.seconds = seconds
        self.moves = moves
        self.create_every = create_every
        self.delete_every = delete_every
        self.clock = clock
        self.on_step = on_step
        self.errors: list[BaseException] = []
        self._rng = random.Random(seed)
        self._steps = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> Churn:
        """Catch the clock up now, then step every `seconds` until `stop()`."""
        if self._thread is not None:
            return self
        self.catch_up_clock()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="emulator-churn", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop stepping and join the thread (a step under way finishes first)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join()

    def __enter__(self) -> Churn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cadence(self) -> str:
        """What the steps do, for a banner."""
        return (
            f"every {self.seconds:g} s the clock catches up with real time and {self.moves} "
            f"issues move one status on; {_every(self.create_every)} an issue appears, "
            f"{_every(self.delete_every)} one is deleted"
        )

    @property
    def steps(self) -> int:
        """Steps taken so far."""
        with self.org.lock:
            return self._steps

    def _run(self) -> None:
        while not self._stopping.wait(self.seconds):
            try:
                self.step()
            except Exception as exc:  # keep the organisation alive; the log has it
                log.exception("emulator churn step failed")
                self.errors.append(exc)

    # --- one step ----------------------------------------------------------------
    def catch_up_clock(self) -> datetime:
        """Move the emulated clock to real time (whole seconds), never backwards."""
        with self.org.lock:
            target = self.clock().astimezone(UTC).replace(microsecond=0)
            if target > self.org.now:
                return mutations.advance_clock(self.org, target - self.org.now)
            return self.org.now

    def step(self) -> ChurnStep:
        """One step: the clock catches up, issues move, one may appear, one may go."""
        with self.org.lock:
            self.catch_up_clock()
            number = self._steps + 1
            moved = self._move()
            created = self._create() if number % self.create_every == 0 else None
            touched = {key for key, _ in moved} | {created}
            deleted = self._delete(touched) if number % self.delete_every == 0 else None
            self._steps = number
            result = ChurnStep(number, self.org.now, moved, created, deleted)
        if self.on_step is not None:
            self.on_step(result)
        return result

    def _move(self) -> tuple[tuple[str, str], ...]:
        live = list(self.org.live())
        open_work = [r for r in live if r.status["key"] not in RESOLVED_STATUSES]
        pool = open_work if len(open_work) >= self.moves else live
        chosen: list[IssueRecord] = self._rng.sample(pool, min(self.moves, len(pool)))
        mutations.add_changes(self.org, [r.id for r in chosen], kind="status")
        return tuple((r.key, r.status["display"]) for r in chosen)

    def _create(self) -> str:
        queue = self._rng.choice((PRODUCT_QUEUE, IMPLEMENTATION_QUEUE))
        data = mutations.create_issue(
            self.org, queue, team=self._rng.choice(TEAMS), author=self._rng.choice(AUTHORS)
        )
        return str(data["key"])

    def _delete(self, spare: set[str | None]) -> str | None:
        candidates = [r for r in self.org.live() if r.key not in spare]
        if not candidates:
            return None
        victim = self._rng.choice(candidates)
        mutations.delete_issue(self.org, victim.id)
        return victim.key
