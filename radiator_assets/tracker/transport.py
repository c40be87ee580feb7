"""One HTTP exchange with Tracker, made robust: limiter, timeouts, retries, error mapping.

The client's API methods only say *what* to ask; this module decides whether
an answer is usable, transient (retry with backoff) or fatal (raise a clear
error). Keeping that in one place is what makes every endpoint behave the
same under 429s, 5xx bursts, dropped connections and truncated bodies.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from radiator_assets import __version__
from radiator_assets.tracker.counters import RequestCounters
from radiator_assets.tracker.errors import (
    SNIPPET_BYTES,
    AccessDenied,
    MalformedResponse,
    NotFound,
    TrackerConfigError,
    TrackerHTTPError,
    TrackerUnavailable,
    body_snippet,
)
from radiator_assets.tracker.rate_limit import TokenBucket

log = logging.getLogger("radiator_assets.tracker")

ORG_HEADER = "X-Org-ID"
CLOUD_ORG_HEADER = "X-Cloud-Org-ID"
_TRANSIENT_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how to retry transient failures.

    Delays are "full jitter": uniform in [0, min(cap, base * 2**attempt)], so
    many workers hitting a 503 together do not come back in lockstep. A
    `Retry-After` header, when present, replaces the computed delay.
    """

    max_retry_seconds: float = 120.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    malformed_retries: int = 2


@dataclass(frozen=True)
class Reply:
    """A successful exchange: parsed JSON (None for an empty body), headers and final URL."""

    data: Any
    headers: CaseInsensitiveDict[str]
    url: str
    status: int


def endpoint_of(method: str, url: str) -> str:
    """`METHOD scheme://host/path`: names the endpoint without the query string."""
    parts = urlsplit(url)
    return f"{method} {urlunsplit((parts.scheme, parts.netloc, parts.path, '', ''))}"


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class _Transient(Exception):
    """Internal: this attempt failed in a way worth retrying.

    `refused` means the server declined the request without acting on it (429):
    even a request that moves server-side state may be sent again.
    """

    def __init__(self, reason: str, retry_after: float | None = None, *, refused: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.refused = refused


class Transport:
    """Shared pooled `requests.Session` plus the retry loop; safe to use from many threads."""

    def __init__(
        self,
        *,
        token: SecretStr,
        auth_scheme: str,
        org_header: str,
        org_id: str,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int,
        limiter: TokenBucket,
        counters: RequestCounters,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        trust_env: bool = True,
    ) -> None:
        self._token = token
        self._auth_scheme = auth_scheme
        self.org_header = org_header
        self.org_id = org_id
        self.timeout = (connect_timeout, read_timeout)
        self.limiter = limiter
        self.counters = counters
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.session = session or requests.Session()
        self.session.trust_env = trust_env
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # (scheme, host:port) -> proxies, CA bundle, cert, stream: the environment, read once
        self._environments: dict[tuple[str, str], dict[str, Any]] = {}

    # --- secrets -----------------------------------------------------------
    def _headers(self, has_body: bool) -> dict[str, str]:
        """The session's default headers (Accept-Encoding, Connection, ...) overridden by
        ours, as `Session.request` merges them; built per request, so the token is kept
        nowhere but in the `SecretStr`."""
        headers = {
            **self.session.headers,
            "Authorization": f"{self._auth_scheme} {self._token.get_secret_value()}",
            self.org_header: self.org_id,
            "Accept": "application/json",
            "User-Agent": f"radiator-assets/{__version__}",
        }
        if has_body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return headers

    def redact(self, text: str) -> str:
        """Remove the token from any text that might end up in a message."""
        secret = self._token.get_secret_value()
        return text.replace(secret, "**********") if secret else text

    def _snippet(self, body: bytes) -> str:
        """A redacted body prefix (errors cut it to 200 bytes): redacting before cutting
        means no partial token can survive the cut."""
        room = SNIPPET_BYTES + len(self._token.get_secret_value()) + 16
        return self.redact(body[:room].decode("utf-8", "replace"))

    # --- the exchange ------------------------------------------------------
    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        json_body: Any = None,
        expect_json: bool = True,
        retry: bool = True,
        replayable: bool = True,
    ) -> Reply:
        """Send with retries; returns a `Reply` or raises a `TrackerError`.

        `retry=False` makes one attempt only (best-effort calls such as
        releasing a scroll must not stall a run for the whole retry budget).
        `replayable=False` is for requests that move server-side state, such as
        reading the next page of a scroll: only a 429 (refused, nothing served)
        is retried; after a 5xx, a timeout, a dropped connection or a truncated
        body the server may have moved on, so the error goes to the caller, who
        must start over instead of silently skipping a page.
        """
        endpoint = endpoint_of(method, url)
        started = self._clock()
        deadline = started + (self.policy.max_retry_seconds if retry else 0.0)
        attempts = 0
        malformed_seen = 0
        while True:
            attempts += 1
            try:
                return self._attempt(method, url, endpoint, params, json_body, expect_json)
            except _Transient as failure:
                reason, retry_after = failure.reason, failure.retry_after
                if not replayable and not failure.refused:
                    raise TrackerUnavailable(
                        endpoint,
                        attempts=attempts,
                        elapsed=self._clock() - started,
                        last_error=f"{reason} (not replayable: the caller starts over)",
                    ) from None
            except MalformedResponse:
                malformed_seen += 1
                if not retry or not replayable or malformed_seen > self.policy.malformed_retries:
                    raise
                reason, retry_after = "unparseable JSON body (truncated?)", None
            delay = retry_after if retry_after is not None else self.backoff(attempts)
            elapsed = self._clock() - started
            if not retry or self._clock() + delay > deadline:
                raise TrackerUnavailable(
                    endpoint,
                    attempts=attempts,
                    elapsed=elapsed,
                    last_error=reason
                    + (
                        f" (Retry-After {retry_after:g} s exceeds the retry budget)"
                        if retry_after is not None and retry_after > 0
                        else ""
                    ),
                )
            self.counters.add("retries")
            log.warning("Tracker %s: %s; retry %d in %.2f s", endpoint, reason, attempts, delay)
            if delay > 0:
                self._sleep(delay)

    def backoff(self, attempts: int) -> float:
        """The full-jitter delay before attempt `attempts + 1`."""
        ceiling = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (attempts - 1))
        with self._rng_lock:
            return self._rng.uniform(0, ceiling)

    def _attempt(
        self,
        method: str,
        url: str,
        endpoint: str,
        params: Any,
        json_body: Any,
        expect_json: bool,
    ) -> Reply:
        waited = self.limiter.acquire()
        if waited > 0.0005:
            self.counters.add("limiter_waits")
            self.counters.add("throttled")
            self.counters.add("limiter_wait_seconds", waited)
        self.counters.add("requests")
        body = None if json_body is None else json.dumps(json_body, ensure_ascii=False).encode()
        t0 = time.perf_counter()
        try:
            response = self._send(method, url, params, body)
            content = response.content  # reads the whole body: truncation raises here
        except _TRANSIENT_EXCEPTIONS as exc:
            raise _Transient(f"{type(exc).__name__}: {self.redact(str(exc))[:300]}") from exc
        self.counters.add("bytes_received", len(content))
        status = response.status_code
        log.debug(
            "Tracker %s -> %d (%d bytes, %.3f s)",
            endpoint,
            status,
            len(content),
            time.perf_counter() - t0,
        )
        if 200 <= status < 300:
            return Reply(
                self._parse(endpoint, content, expect_json), response.headers, response.url, status
            )
        if status in (401, 403):
            raise self._config_error(endpoint, status, content)
        if status == 404:
            raise NotFound(endpoint, status, self._snippet(content))
        if status == 429:
            self.counters.add("responses_429")
            self.counters.add("throttled")
            raise _Transient(
                "HTTP 429 Too Many Requests",
                parse_retry_after(response.headers.get("Retry-After")),
                refused=True,
            )
        if status >= 500:
            raise _Transient(
                f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After"))
            )
        raise TrackerHTTPError(endpoint, status, self._snippet(content))

    def _send(self, method: str, url: str, params: Any, body: bytes | None) -> requests.Response:
        """One exchange: a request prepared here, sent through `Session.send` (the session's
        adapters and pool, redirects with the Authorization header dropped on a change of
        host, cookies).

        Decision: not `Session.request`, which for every request merged the session's
        settings into new objects and read the proxy environment again (with `trust_env`,
        `no_proxy` matching and a `.netrc` look-up): about a third of the client's CPU per
        request, and the changelog fan-out sends one request per issue. The environment
        (proxies, CA bundle) is read once per origin (`_environment`) and the headers and
        cookies are merged as `Session.request` merges them. A `.netrc` entry no longer
        replaces our Authorization header (it used to, silently)."""
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method,
            url=url,
            headers=self._headers(body is not None),
            data=body,
            params=params,
            cookies=self.session.cookies,
        )
        assert prepared.url is not None  # prepare() always sets it
        return self.session.send(
            prepared, timeout=self.timeout, allow_redirects=True, **self._environment(prepared.url)
        )

    def _environment(self, url: str) -> dict[str, Any]:
        """`Session.merge_environment_settings` for `url`'s origin (proxies, `no_proxy`,
        `REQUESTS_CA_BUNDLE`, ...), looked up once per origin: the environment of a
        running sync does not change. Without `trust_env` it is the session's own."""
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        settings = self._environments.get(origin)
        if settings is None:
            settings = self.session.merge_environment_settings(url, {}, None, None, None)
            self._environments[origin] = settings
        return settings

    def _parse(self, endpoint: str, content: bytes, expect_json: bool) -> Any:
        if not content.strip():
            if expect_json:
                raise MalformedResponse(endpoint, "empty body where JSON was expected", b"")
            return None
        try:
            return json.loads(content)
        except (ValueError, UnicodeDecodeError) as exc:
            if not expect_json:
                return None
            raise MalformedResponse(
                endpoint, f"invalid JSON ({exc})", self._snippet(content)
            ) from None

    def _config_error(self, endpoint: str, status: int, content: bytes) -> TrackerConfigError:
        detail = body_snippet(self._snippet(content))
        if status == 401:
            message = (
                f"Tracker rejected the credentials (HTTP 401) for {endpoint}: check the "
                f"Authorization header: TRACKER_TOKEN and TRACKER_AUTH_SCHEME (sent scheme "
                f"'{self._auth_scheme}'; OAuth for a Yandex OAuth token, Bearer for an IAM "
                f"token). Server said: {detail!r}"
            )
        else:
            other = CLOUD_ORG_HEADER if self.org_header == ORG_HEADER else ORG_HEADER
            sent_var = "TRACKER_ORG_ID" if self.org_header == ORG_HEADER else "TRACKER_CLOUD_ORG_ID"
            other_var = "TRACKER_CLOUD_ORG_ID" if sent_var == "TRACKER_ORG_ID" else "TRACKER_ORG_ID"
            message = (
                f"Tracker refused access (HTTP 403) for {endpoint}: check the organisation "
                f"header: sent {self.org_header}={self.org_id!r} ({sent_var}); a "
                f"{'Yandex Cloud' if other == CLOUD_ORG_HEADER else 'Yandex 360'} "
                f"organisation needs {other} ({other_var}) instead, or the account lacks "
                f"access to this data. Server said: {detail!r}"
            )
        error = AccessDenied if status == 403 else TrackerConfigError
        return error(self.redact(message), status=status, endpoint=endpoint)
