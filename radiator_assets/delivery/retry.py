"""One retry loop for the delivery APIs: a 429 (or a 5xx) is sent again after the wait the
server asks for.

Google's client retries 429s with its own backoff and ignores `Retry-After`; Telegram
says how long to wait in `Retry-After` and in its JSON body (`parameters.retry_after`).
Both callers turn their library's failure into `RetryableError` with that wait, and this
loop sleeps it (through an injected `sleep`, so tests never wait) up to a budget of
attempts and seconds; anything else goes up at once.

A sensor tick must answer within Dagster's sensor timeout (60 s): it gives its calls one
`Deadline`, which bounds both the waits here and each request's own timeout (the callers
ask `Deadline.timeout`), and ends the retries with `OutOfTime` when it has passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from radiator_assets.tracker.transport import parse_retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "Deadline",
    "OutOfTime",
    "RetryPolicy",
    "RetryableError",
    "call_with_retry",
    "parse_retry_after",
]


class RetryableError(Exception):
    """The server declined for now (429, 5xx); `retry_after` seconds it asked for, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class OutOfTime(RetryableError):
    """The deadline passed before the call could be made (again)."""


@dataclass
class Deadline:
    """`seconds` from now on `clock` (epoch seconds; tests pass a fake clock)."""

    seconds: float
    clock: Callable[[], float] = time.time
    end: float = field(init=False)

    def __post_init__(self) -> None:
        self.end = self.clock() + self.seconds

    def remaining(self) -> float:
        return self.end - self.clock()

    def timeout(self, longest: float, what: str) -> float:
        """A request's timeout: `longest`, or what is left if less; `OutOfTime` when
        less than a second is left."""
        left = self.remaining()
        if left < 1.0:
            raise OutOfTime(f"{what}: no time left in this tick")
        return min(longest, left)


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` tries and `max_wait_seconds` of waiting in all; without a
    `Retry-After`, waits `fallback_seconds` doubled per attempt."""

    attempts: int = 5
    max_wait_seconds: float = 120.0
    fallback_seconds: float = 1.0


def call_with_retry(
    call: Callable[[], T],
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    deadline: Deadline | None = None,
) -> T:
    """`call()`, sent again after each `RetryableError` as long as the policy (and the
    deadline: a wait must end a second before it) allows; the last `RetryableError` goes
    up when it does not. The error's reason names the call: the warning shows it once."""
    waited = 0.0
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except OutOfTime:
            raise
        except RetryableError as exc:
            wait = exc.retry_after
            if wait is None:
                wait = policy.fallback_seconds * 2 ** (attempt - 1)
            if attempt == policy.attempts or waited + wait > policy.max_wait_seconds:
                raise
            if deadline is not None and wait > deadline.remaining() - 1.0:
                raise
            log.warning("%s; retrying in %.1f s", exc.reason, wait)
            sleep(wait)
            waited += wait
    raise AssertionError("unreachable")  # pragma: no cover
