"""Fault injection: a small, thread-safe list of rules the emulator consults per request.

A rule matches a regex against the request path (or `path?query`) and fires for the next
`count` matching requests (None = forever), after letting `skip` of them
through. Kinds:

* `status`     answer `status` (e.g. 429, 500, 503, 404) with an error body,
               plus `Retry-After` when `retry_after` is set;
* `drop`       close the connection without any response;
* `slow`       wait `delay` seconds, then answer normally (beyond a read timeout);
* `truncate`   answer normally but cut the JSON body in half, with a
               Content-Length that matches the cut (valid HTTP, broken JSON);
* `short_body` announce the full Content-Length, send half, close (a truncated read);
* `body`       answer `status` (default 200) with exactly `body` (wrong shapes, HTML);
* `headers`    answer normally with some headers replaced (`X-Total-Count` that lies).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["status", "drop", "slow", "truncate", "short_body", "body", "headers"]


@dataclass
class Fault:
    """One rule; build it with the classmethods, which read like the test's intent."""

    kind: FaultKind
    path: str = ".*"
    count: int | None = 1
    status: int = 503
    retry_after: str | float | None = None
    delay: float = 0.0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    skip: int = 0
    hits: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)

    # --- builders --------------------------------------------------------------
    @classmethod
    def http(
        cls,
        status: int,
        path: str = ".*",
        count: int | None = 1,
        *,
        retry_after: str | float | None = None,
        method: str | None = None,
        skip: int = 0,
    ) -> Fault:
        return cls(
            "status", path, count, status=status, retry_after=retry_after, method=method, skip=skip
        )

    @classmethod
    def throttle(
        cls, path: str = ".*", count: int | None = 1, *, retry_after: str | float | None = None
    ) -> Fault:
        return cls.http(429, path, count, retry_after=retry_after)

    @classmethod
    def drop(cls, path: str = ".*", count: int | None = 1, *, skip: int = 0) -> Fault:
        return cls("drop", path, count, skip=skip)

    @classmethod
    def slow(cls, delay: float, path: str = ".*", count: int | None = 1) -> Fault:
        return cls("slow", path, count, delay=delay)

    @classmethod
    def truncated(cls, path: str = ".*", count: int | None = 1, *, skip: int = 0) -> Fault:
        return cls("truncate", path, count, skip=skip)

    @classmethod
    def short_body(cls, path: str = ".*", count: int | None = 1) -> Fault:
        return cls("short_body", path, count)

    @classmethod
    def replace_body(
        cls, body: bytes | str, path: str = ".*", count: int | None = 1, *, status: int = 200
    ) -> Fault:
        raw = body.encode() if isinstance(body, str) else body
        return cls("body", path, count, status=status, body=raw)

    @classmethod
    def replace_headers(
        cls, headers: dict[str, str], path: str = ".*", count: int | None = 1
    ) -> Fault:
        return cls("headers", path, count, headers=dict(headers))

    @classmethod
    def gone(cls, issue: str) -> Fault:
        """Every changelog request for `issue` (id or key) answers 404, forever."""
        return cls.http(404, rf"/issues/{re.escape(issue)}/changelog", None)

    # --- matching --------------------------------------------------------------
    def matches(self, method: str, target: str) -> bool:
        """The regex is tried on the path alone (so `$` anchors work) and on the
        whole target with its query string (so `scrollId=` can be matched)."""
        if self.method and self.method.upper() != method.upper():
            return False
        path = target.split("?", 1)[0]
        return bool(self._pattern.search(path) or self._pattern.search(target))

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count


class FaultPlan:
    """The emulator's active rules; the first matching live rule fires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._seen: dict[int, int] = {}

    def add(self, *rules: Fault) -> None:
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._seen.clear()

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def take(self, method: str, target: str) -> Fault | None:
        """The rule to apply to this request, counting it as fired; None = serve normally."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(method, target):
                    continue
                seen = self._seen.get(id(rule), 0)
                self._seen[id(rule)] = seen + 1
                if seen < rule.skip:
                    continue
                rule.hits += 1
                return rule
        return None
