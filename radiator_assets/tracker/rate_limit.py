"""A token bucket shared by every thread of one client.

Tracker guarantees only about 5 search requests per second; staying under a
configured rate up front is cheaper than collecting 429s and backing off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; thread-safe.

    `acquire()` reserves a token under the lock (the balance may go negative)
    and sleeps outside it, so concurrent callers queue fairly and the lock is
    never held while sleeping.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()

    def acquire(self) -> float:
        """Take one token, waiting if needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, burst={self.burst})"
