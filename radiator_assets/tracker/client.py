"""The Yandex Tracker HTTP client the sync uses.

Read-only and streaming: `search` scrolls (no 10,000 cap) and yields issues
page by page, `changelog` follows `Link: rel="next"` with no page cap, and
`changelogs` fans many issues out over a bounded worker pool while keeping a
bounded number of results in flight, so memory stays flat whatever the size
of the organisation. Robustness (timeouts, retries, rate limiting, error
mapping) lives in `transport.py`; the token lives only inside the transport
as a `SecretStr`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import requests
from pydantic import SecretStr

from radiator_assets.settings import DEFAULT_TRACKER_API_URL
from radiator_assets.tracker.counters import RequestCounters
from radiator_assets.tracker.errors import (
    AccessDenied,
    IssueGone,
    ListingIncomplete,
    MalformedResponse,
    NotFound,
    TrackerConfigError,
    TrackerError,
    TrackerHTTPError,
    TrackerUnavailable,
)
from radiator_assets.tracker.link_header import next_url
from radiator_assets.tracker.rate_limit import TokenBucket
from radiator_assets.tracker.transport import (
    CLOUD_ORG_HEADER,
    ORG_HEADER,
    Reply,
    RetryPolicy,
    Transport,
    endpoint_of,
)

if TYPE_CHECKING:
    from radiator_assets.settings import Settings

log = logging.getLogger("radiator_assets.tracker")

MAX_PER_SCROLL = 1000


@dataclass
class ChangelogResult:
    """The outcome for one issue of `TrackerClient.changelogs`.

    Exactly one of three: entries fetched (`ok`), the issue is `gone` (404),
    or `error` holds the exception that stopped this issue's fetch. An error
    is never turned into "no entries": `entries` is then whatever was not
    fetched, i.e. empty, and `ok` is False.
    """

    issue_id: str
    after_id: str | None
    entries: list[dict[str, Any]] = field(default_factory=list)
    gone: bool = False
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.gone

    @property
    def last_id(self) -> str | None:
        """The new changelog cursor: the last entry's id, or the old cursor."""
        last = self.entries[-1] if self.entries else None
        return last.get("id", self.after_id) if isinstance(last, dict) else self.after_id


class TrackerClient:
    """Tracker API client: one pooled session, shared limiter and counters, thread-safe."""

    def __init__(
        self,
        *,
        token: str | SecretStr,
        base_url: str = DEFAULT_TRACKER_API_URL,
        org_id: str | None = None,
        cloud_org_id: str | None = None,
        auth_scheme: Literal["OAuth", "Bearer"] = "OAuth",
        api_version: Literal["v2", "v3"] = "v2",
        fields: Sequence[str] | None = None,
        expand_links: bool = True,
        workers: int = 8,
        max_in_flight: int | None = None,
        requests_per_second: float = 20.0,
        rate_burst: float = 1.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retry_seconds: float = 120.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        malformed_retries: int = 2,
        per_scroll: int = MAX_PER_SCROLL,
        scroll_ttl_millis: int = 60_000,
        scroll_restarts: int = 10,
        changelog_per_page: int = 50,
        abort_after_unavailable: int | None = 20,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        limiter: TokenBucket | None = None,
        session: requests.Session | None = None,
        trust_env: bool = True,
    ) -> None:
        secret = token if isinstance(token, SecretStr) else SecretStr(token or "")
        if not secret.get_secret_value().strip():
            raise TrackerConfigError("no Tracker token configured: set TRACKER_TOKEN")
        if bool(org_id) == bool(cloud_org_id):
            raise TrackerConfigError(
                "exactly one organisation id is needed: set TRACKER_ORG_ID (Yandex 360, "
                "sent as X-Org-ID) or TRACKER_CLOUD_ORG_ID (Yandex Cloud, sent as X-Cloud-Org-ID)"
            )
        if auth_scheme not in ("OAuth", "Bearer"):
            raise TrackerConfigError(f"auth scheme must be OAuth or Bearer, not {auth_scheme!r}")
        if api_version not in ("v2", "v3"):
            raise ValueError(f"api_version must be v2 or v3, not {api_version!r}")
        if not 1 <= per_scroll <= MAX_PER_SCROLL:
            raise ValueError(f"per_scroll must be within 1..{MAX_PER_SCROLL}")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.fields = [f for f in (fields or []) if f]
        self.expand_links = expand_links
        self.workers = workers
        self.max_in_flight = max(workers, max_in_flight or 2 * workers)
        self.per_scroll = per_scroll
        self.scroll_ttl_millis = scroll_ttl_millis
        self.scroll_restarts = scroll_restarts
        self._sleep = sleep
        self.changelog_per_page = changelog_per_page
        self.abort_after_unavailable = abort_after_unavailable
        self.counters = RequestCounters()
        self.limiter = limiter or TokenBucket(requests_per_second, rate_burst)
        org_header = ORG_HEADER if org_id else CLOUD_ORG_HEADER
        self._transport = Transport(
            token=secret,
            auth_scheme=auth_scheme,
            org_header=org_header,
            org_id=str(org_id or cloud_org_id),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            pool_size=workers + 1,  # the workers plus the thread driving `search`
            limiter=self.limiter,
            counters=self.counters,
            policy=RetryPolicy(
                max_retry_seconds=max_retry_seconds,
                backoff_base=backoff_base,
                backoff_cap=backoff_cap,
                malformed_retries=malformed_retries,
            ),
            sleep=sleep,
            clock=clock,
            rng=rng,
            session=session,
            trust_env=trust_env,
        )
        self.auth_scheme = auth_scheme

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> TrackerClient:
        """A client configured from `Settings`; keyword overrides win (tests, benchmarks)."""
        if settings.tracker_token is None and "token" not in overrides:
            raise TrackerConfigError("no Tracker token configured: set TRACKER_TOKEN")
        kwargs: dict[str, Any] = {
            "base_url": settings.tracker_api_url,
            "token": settings.tracker_token,
            "auth_scheme": settings.tracker_auth_scheme,
            "org_id": settings.tracker_org_id,
            "cloud_org_id": settings.tracker_cloud_org_id,
            "api_version": settings.tracker_api_version,
            "fields": settings.field_list,
            "workers": settings.tracker_workers,
            "per_scroll": settings.tracker_per_scroll,
            "requests_per_second": settings.tracker_requests_per_second,
            "connect_timeout": settings.tracker_connect_timeout,
            "read_timeout": settings.tracker_read_timeout,
            "max_retry_seconds": settings.tracker_max_retry_seconds,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    # --- plumbing ------------------------------------------------------------
    @property
    def org_header(self) -> str:
        return self._transport.org_header

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{self.api_version}/{path}"

    @staticmethod
    def _issue_path(id_or_key: str) -> str:
        return quote(str(id_or_key), safe="")

    def _view_params(self, fields: Sequence[str] | None, expand_links: bool | None) -> dict:
        params: dict[str, str] = {}
        if self.expand_links if expand_links is None else expand_links:
            params["expand"] = "links"
        chosen = self.fields if fields is None else [f for f in fields if f]
        if chosen:
            params["fields"] = ",".join(chosen)
        return params

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> TrackerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"TrackerClient(base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"auth_scheme={self.auth_scheme!r}, {self.org_header}={self._transport.org_id!r}, "
            f"workers={self.workers})"
        )

    __str__ = __repr__

    # --- issues --------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        fields: Sequence[str] | None = None,
        expand_links: bool | None = None,
    ) -> Generator[dict[str, Any]]:
        """Every issue matching `query`, each once, streamed through an unsorted scroll.

        A scroll is a snapshot and has no 10,000 cap; pages are fetched lazily
        (one page in memory at a time). Reading a page moves the scroll, so a
        page lost to a 5xx, a timeout, a dropped connection or a truncated body
        cannot be asked for again: the listing then starts over with a new
        scroll and skips the issues it already yielded (their ids are kept for
        the listing's length, about 100 bytes an issue). It also starts over
        when a scroll ends with fewer issues than its `X-Total-Count`, unless
        `_count` (the true total) says the scroll had them all: a header that
        counts more than the server serves is not a lost page. After `scroll_restarts`
        restarts, or when the waits between them would pass the retry budget
        (`max_retry_seconds`), it raises `ListingIncomplete`, so a caller can
        never mistake a broken listing for a complete one. Every scroll is
        released with `system/search/scroll/_clear` (all `{scrollId:
        scrollToken}` pairs seen), also when the consumer stops early.
        """
        yielded: set[str] = set()
        waited = 0.0
        for attempt in range(self.scroll_restarts + 1):
            try:
                yield from self._scroll(query, fields, expand_links, yielded)
                return
            except _ScrollBroken as broken:
                if broken.short is not None and self._short_is_complete(query, *broken.short):
                    return
                delay = self._transport.backoff(attempt + 1)
                budget = self._transport.policy.max_retry_seconds
                if attempt == self.scroll_restarts or waited + delay > budget:
                    raise ListingIncomplete(
                        f"the issue listing broke off {attempt + 1} time(s), last: {broken}; "
                        f"{len(yielded)} issues were read, the listing is not complete"
                    ) from broken.__cause__
                self.counters.add("scroll_restarts")
                waited += delay
                log.warning("issue listing broke off (%s); starting over in %.2f s", broken, delay)
                self._sleep(delay)

    def _short_is_complete(self, query: str, received: int, header_total: int) -> bool:
        """A scroll ended before its `X-Total-Count` without an error: did it miss issues
        (start over), or does the header count more than Tracker serves? `_count` says."""
        true_total = self.count(query)
        if received < true_total:
            return False
        log.warning(
            "the scroll's X-Total-Count said %d issues, it returned %d and _count says %d: "
            "the listing is complete",
            header_total,
            received,
            true_total,
        )
        return True

    def _scroll(
        self,
        query: str,
        fields: Sequence[str] | None,
        expand_links: bool | None,
        yielded: set[str],
    ) -> Iterator[dict[str, Any]]:
        """One scroll from its first page to its empty last page; issues whose id is in
        `yielded` are skipped, new ones added. Raises `_ScrollBroken` past the first page."""
        url = self._url("issues/_search")
        endpoint = endpoint_of("POST", url)
        body = {"query": query}
        view = self._view_params(fields, expand_links)
        params: dict[str, str] = {
            "scrollType": "unsorted",
            "perScroll": str(self.per_scroll),
            "scrollTTLMillis": str(self.scroll_ttl_millis),
            **view,
        }
        scroll_pairs: dict[str, str] = {}
        received = 0
        total: int | None = None
        try:
            while True:
                opening = received == 0 and not scroll_pairs
                try:
                    reply = self._transport.request(
                        "POST", url, params=params, json_body=body, replayable=opening
                    )
                    page = _expect_list(reply, endpoint, "issues")
                except (TrackerUnavailable, MalformedResponse, TrackerHTTPError) as exc:
                    # A 4xx on a later page (an expired or refused scroll id) breaks this
                    # scroll, not the listing; 401/403 (TrackerConfigError) stop it.
                    if opening:
                        raise
                    raise _ScrollBroken(f"page {len(scroll_pairs) + 1}: {exc}") from exc
                if opening:
                    total = _int_header(reply.headers.get("X-Total-Count"))
                scroll_id = reply.headers.get("X-Scroll-Id")
                if scroll_id:
                    scroll_pairs[scroll_id] = reply.headers.get("X-Scroll-Token", "")
                if not page:
                    break
                received += len(page)
                full_page = len(page) >= self.per_scroll
                link = next_url(reply.headers.get("Link"), reply.url)
                del reply
                for issue in _drain(page):
                    issue_id = issue.get("id") if isinstance(issue, dict) else None
                    if isinstance(issue_id, str):
                        if issue_id in yielded:
                            continue
                        yielded.add(issue_id)
                    yield issue
                if scroll_id:
                    params = {
                        "scrollId": scroll_id,
                        "scrollTTLMillis": str(self.scroll_ttl_millis),
                        **view,
                    }
                elif link:
                    url, params = link, {}
                elif not full_page:
                    break  # everything fitted in one page and no scroll was opened
                else:
                    raise MalformedResponse(
                        endpoint, "a full scroll page came without X-Scroll-Id or Link next"
                    )
        finally:
            if scroll_pairs:
                self._release_scroll(scroll_pairs)
        if total is not None and received < total:
            raise _ScrollBroken(
                f"the scroll ended after {received} of {total} issues", short=(received, total)
            )

    def search_page(
        self,
        query: str,
        *,
        page: int = 1,
        per_page: int = 50,
        fields: Sequence[str] | None = None,
        expand_links: bool | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of a paged search and the total (`X-Total-Count`).

        For small, cheap questions (a sensor's "anything new?"); paged mode
        is capped at 10,000 results and shifts when issues change mid-read,
        so anything large goes through `search`.
        """
        url = self._url("issues/_search")
        params = {"perPage": str(per_page), "page": str(page)}
        params.update(self._view_params(fields, expand_links))
        reply = self._transport.request("POST", url, params=params, json_body={"query": query})
        issues = _expect_list(reply, endpoint_of("POST", url), "issues")
        total = _int_header(reply.headers.get("X-Total-Count"))
        return issues, (page - 1) * per_page + len(issues) if total is None else total

    def issues_by_keys(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """The issues among `keys` (current or old keys) that exist and are visible to us,
        with `id` and `key` only."""
        return self.search_keys(keys, fields=["id", "key"], expand_links=False)

    def search_keys(
        self,
        keys: Sequence[str],
        *,
        fields: Sequence[str] | None = None,
        expand_links: bool | None = None,
    ) -> list[dict[str, Any]]:
        """The issues among `keys` (current or old keys) that exist and are visible to us:
        a paged search with a `keys` body (scroll refuses keys), one page of `len(keys)`,
        and the following pages only if `X-Total-Count` says there are more. Keep `keys`
        to a few hundred: the paged search stops at 10,000 results."""
        if not keys:
            return []
        url = self._url("issues/_search")
        endpoint = endpoint_of("POST", url)
        found: dict[str, dict[str, Any]] = {}
        others: list[dict[str, Any]] = []  # items without an id: judged by the consumer
        view = self._view_params(fields, expand_links)
        page = 1
        while True:
            params = {"perPage": str(len(keys)), "page": str(page), **view}
            reply = self._transport.request(
                "POST", url, params=params, json_body={"keys": list(keys)}
            )
            issues = _expect_list(reply, endpoint, "issues")
            total = _int_header(reply.headers.get("X-Total-Count"))
            for issue in issues:
                issue_id = issue.get("id") if isinstance(issue, dict) else None
                if isinstance(issue_id, str):
                    found.setdefault(issue_id, issue)  # pages shift: an issue may come twice
                else:
                    others.append(issue)
            if not issues or total is None or page * len(keys) >= total:
                return [*found.values(), *others]
            page += 1

    def _release_scroll(self, pairs: dict[str, str]) -> None:
        """Best effort, one attempt: a leaked scroll expires by its TTL anyway."""
        url = self._url("system/search/scroll/_clear")
        try:
            self._transport.request("POST", url, json_body=pairs, expect_json=False, retry=False)
        except TrackerError as exc:
            log.warning("could not release a Tracker scroll (it will expire): %s", exc)

    def count(self, query: str) -> int:
        """The true number of issues matching `query` (`_count`, no cap)."""
        url = self._url("issues/_count")
        reply = self._transport.request("POST", url, json_body={"query": query})
        value = reply.data
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise MalformedResponse(
                endpoint_of("POST", url),
                f"expected a number, got {type(value).__name__}",
                repr(value),
            )
        return int(value)

    def get_issue(
        self,
        id_or_key: str,
        *,
        fields: Sequence[str] | None = None,
        expand_links: bool | None = None,
    ) -> dict[str, Any]:
        """One issue by id, key or an old key (alias). 404 -> `IssueGone`."""
        url = self._url(f"issues/{self._issue_path(id_or_key)}")
        try:
            reply = self._transport.request(
                "GET", url, params=self._view_params(fields, expand_links)
            )
        except NotFound as exc:
            raise IssueGone(id_or_key, exc.endpoint) from None
        if not isinstance(reply.data, dict):
            raise MalformedResponse(
                endpoint_of("GET", url),
                f"expected an issue object, got {type(reply.data).__name__}",
                repr(reply.data),
            )
        return reply.data

    def links(self, id_or_key: str) -> list[dict[str, Any]]:
        """The issue's links (`{type, direction, object}`). 404 -> `IssueGone`."""
        url = self._url(f"issues/{self._issue_path(id_or_key)}/links")
        try:
            reply = self._transport.request("GET", url)
        except NotFound as exc:
            raise IssueGone(id_or_key, exc.endpoint) from None
        return _expect_list_of_objects(reply, endpoint_of("GET", url), "links")

    # --- changelogs ----------------------------------------------------------
    def changelog(
        self,
        issue_id: str,
        after_id: str | None = None,
        *,
        types: Sequence[str] | None = None,
        field: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Changelog entries after `after_id` (all when None), oldest first.

        Follows `Link: rel="next"` exactly as given (relative or absolute),
        with no page cap; no next link or an empty page ends it. A 404, on any
        page, raises `IssueGone(issue_id)`.
        """
        url = self._url(f"issues/{self._issue_path(issue_id)}/changelog")
        params: list[tuple[str, str]] | None = [("perPage", str(self.changelog_per_page))]
        if after_id:
            params.append(("id", after_id))
        for kind in types or ():
            params.append(("type", kind))
        if field:
            params.append(("field", field))
        while True:
            try:
                reply = self._transport.request("GET", url, params=params)
            except NotFound as exc:
                raise IssueGone(issue_id, exc.endpoint) from None
            endpoint = endpoint_of("GET", reply.url)
            page = _expect_list(reply, endpoint, "changelog entries")
            if not page:
                return
            following = next_url(reply.headers.get("Link"), reply.url)
            current = reply.url
            del reply
            yield from _drain(page)
            if not following:
                return
            if following == current:
                raise MalformedResponse(endpoint, "Link rel=next points back at the same page")
            url, params = following, None

    def changelog_list(
        self,
        issue_id: str,
        after_id: str | None = None,
        *,
        types: Sequence[str] | None = None,
        field: str | None = None,
    ) -> list[dict[str, Any]]:
        return list(self.changelog(issue_id, after_id, types=types, field=field))

    def _fetch_one(
        self,
        issue_id: str,
        after_id: str | None,
        types: Sequence[str] | None,
        field: str | None,
    ) -> ChangelogResult:
        try:
            entries = self.changelog_list(issue_id, after_id, types=types, field=field)
        except IssueGone:
            return ChangelogResult(issue_id, after_id, gone=True)
        except AccessDenied as exc:  # this issue is hidden from us
            return ChangelogResult(issue_id, after_id, error=exc)
        except TrackerConfigError:
            raise  # 401: the credentials are wrong for every issue
        except Exception as exc:  # reported per issue, never lost
            return ChangelogResult(issue_id, after_id, error=exc)
        return ChangelogResult(issue_id, after_id, entries=entries)

    def changelogs(
        self,
        items: Iterable[tuple[str, str | None]],
        *,
        types: Sequence[str] | None = None,
        field: str | None = None,
    ) -> Generator[ChangelogResult]:
        """Changelogs of many `(issue_id, after_id)` pairs, fetched in parallel.

        Results are yielded as they complete (not in input order). At most
        `max_in_flight` issues are submitted or waiting to be consumed, and
        `items` is read lazily, so memory does not grow with the number of
        issues. A per-issue failure is a result with `error` set; a
        `TrackerConfigError` (401/403) aborts the whole call, and so do
        `abort_after_unavailable` consecutive `TrackerUnavailable` results
        (Tracker is down: waiting the retry budget once per issue would take
        hours). Stopping the iteration early cancels what has not started.
        """
        source = iter(items)
        executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tracker-cl")
        pending: set[Future[ChangelogResult]] = set()
        unavailable_in_a_row = 0
        refused_in_a_row = 0
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self.max_in_flight:
                    try:
                        issue_id, after_id = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.add(executor.submit(self._fetch_one, issue_id, after_id, types, field))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    yield result
                    error = result.error
                    if isinstance(error, AccessDenied):
                        refused_in_a_row += 1
                        if self.abort_after_unavailable and (
                            refused_in_a_row >= self.abort_after_unavailable
                        ):
                            raise error  # every issue refused: the organisation or the token
                        continue
                    refused_in_a_row = 0
                    if not isinstance(error, TrackerUnavailable):
                        unavailable_in_a_row = 0
                        continue
                    unavailable_in_a_row += 1
                    limit = self.abort_after_unavailable
                    if limit and unavailable_in_a_row >= limit:
                        raise TrackerUnavailable(
                            f"{error.endpoint} (and {limit - 1} more issues in a row)",
                            attempts=error.attempts,
                            elapsed=error.elapsed,
                            last_error=error.last_error,
                        )
        finally:
            for future in pending:
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)


class _ScrollBroken(Exception):
    """Internal: a scroll lost a page or ended short; the listing starts over."""

    def __init__(self, reason: str, *, short: tuple[int, int] | None = None) -> None:
        super().__init__(reason)
        self.short = short  # (received, total) when it ended short without an error


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _expect_list(reply: Reply, endpoint: str, what: str) -> list[Any]:
    """A page of a listing: a JSON array. Its items are judged one by one by the consumer
    (one `null` or garbled item is one bad record, not a broken page)."""
    data = reply.data
    if not isinstance(data, list):
        raise MalformedResponse(
            endpoint, f"expected a JSON array of {what}, got {type(data).__name__}", repr(data)
        )
    return data


def _expect_list_of_objects(reply: Reply, endpoint: str, what: str) -> list[dict[str, Any]]:
    """A JSON array whose every item is an object (a single answer, not a listing page)."""
    data = _expect_list(reply, endpoint, what)
    for item in data:
        if not isinstance(item, dict):
            raise MalformedResponse(
                endpoint, f"expected {what} to be objects, got {type(item).__name__}", repr(item)
            )
    return data


def _drain(page: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yield a page's items while dropping the page's references to them.

    The consumer may keep or drop each item; either way the client holds
    nothing it has already handed out, so a page is freed as it is consumed.
    """
    page.reverse()
    while page:
        yield page.pop()
