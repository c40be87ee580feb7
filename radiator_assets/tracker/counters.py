"""Thread-safe request counters a client exposes for Dagster metadata."""

from __future__ import annotations

import threading
from collections.abc import Mapping

COUNTER_NAMES = (
    "requests",
    "retries",
    "throttled",
    "responses_429",
    "limiter_waits",
    "limiter_wait_seconds",
    "bytes_received",
    "scroll_restarts",
)


class RequestCounters:
    """Monotonic counters shared by all worker threads of a client.

    `throttled` = 429 answers + waits imposed by the client's own limiter;
    the two parts are also kept apart. Use `snapshot()` before a step and
    `since(before)` after it to attribute the traffic to that step.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = dict.fromkeys(COUNTER_NAMES, 0)

    def add(self, name: str, amount: float = 1) -> None:
        if name not in self._values:
            raise KeyError(name)
        with self._lock:
            self._values[name] += amount

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            values = dict(self._values)
        values["limiter_wait_seconds"] = round(values["limiter_wait_seconds"], 6)
        return values

    def since(self, before: Mapping[str, float]) -> dict[str, float]:
        """Counts accumulated after `before` (an earlier `snapshot()`)."""
        now = self.snapshot()
        diff = {k: now[k] - before.get(k, 0) for k in now}
        diff["limiter_wait_seconds"] = round(diff["limiter_wait_seconds"], 6)
        return diff

    def reset(self) -> dict[str, float]:
        """Zero all counters; returns the values they had."""
        with self._lock:
            values = dict(self._values)
            self._values = dict.fromkeys(COUNTER_NAMES, 0)
        return values

    def __getitem__(self, name: str) -> float:
        with self._lock:
            return self._values[name]

    def __repr__(self) -> str:
        return f"RequestCounters({self.snapshot()})"
