"""One retry loop for the delivery APIs: a 429 (or a 5xx) is sent again after the wait the
server asks for.

Google's client retries 429s with its own backoff and ignores `Retry-After`; Telegram
says how long to wait in `Retry-After` and in its JSON body (`parameters.retry_after`).
Both callers turn their library's failure into `RetryableError` with that wait, and this
loop sleeps it (through an injected `sleep`, so tests never wait) up to a budget of
attempts and seconds; anything else goes up at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from radiator_assets.tracker.transport import parse_retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["RetryPolicy", "RetryableError", "call_with_retry", "parse_retry_after"]


class RetryableError(Exception):
    """The server declined for now (429, 5xx); `retry_after` seconds it asked for, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` tries and `max_wait_seconds` of waiting in all; without a
    `Retry-After`, waits `fallback_seconds` doubled per attempt."""

    attempts: int = 5
    max_wait_seconds: float = 120.0
    fallback_seconds: float = 1.0


def call_with_retry(
    call: Callable[[], T],
    what: str,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, sent again after each `RetryableError` as long as the policy allows;
    the last `RetryableError` goes up when it does not."""
    waited = 0.0
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except RetryableError as exc:
            wait = exc.retry_after
            if wait is None:
                wait = policy.fallback_seconds * 2 ** (attempt - 1)
            if attempt == policy.attempts or waited + wait > policy.max_wait_seconds:
                raise
            log.warning("%s: %s; retrying in %.1f s", what, exc.reason, wait)
            sleep(wait)
            waited += wait
    raise AssertionError("unreachable")  # pragma: no cover
