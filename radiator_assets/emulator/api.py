"""The emulated Tracker API: request in, response out, no sockets.

`TrackerApi.handle(method, target, headers, body)` implements the endpoints of
`shared/spec/tracker-api.md` over an `Org`. The HTTP server (`server.py`)
only moves bytes and applies faults, so this logic can be read (and
reasoned about) on its own.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from radiator_assets.emulator.model import IssueRecord, Org
from radiator_assets.emulator.querylang import QueryError, parse_query, sort_records

PAGED_CAP = 10_000
MAX_PER_SCROLL = 1000
DEFAULT_PER_SCROLL = 100
DEFAULT_SCROLL_TTL_MS = 60_000
MAX_CHANGELOG_PER_PAGE = 1000


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """Answer with this status and a Tracker-style error body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(status: int, message: str) -> bytes:
    return json.dumps(
        {"errors": {}, "errorMessages": [message], "statusCode": status}, ensure_ascii=False
    ).encode()


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, error_body(status, message), dict(headers or {}))


def json_response(value: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(200, json.dumps(value, ensure_ascii=False).encode(), dict(headers or {}))


@dataclass
class _Scroll:
    """A scroll context: a snapshot of (id, data, links) taken when it was opened."""

    context: str
    token: str
    items: list[tuple[str, dict[str, Any], list[dict[str, Any]]]]
    per_scroll: int
    ttl: float
    expires: float
    pos: int = 0
    pages: int = 0
    page_ids: set[str] = field(default_factory=set)
    cleared: set[str] = field(default_factory=set)
    exhausted: bool = False


@dataclass(frozen=True)
class _View:
    """How to render issues: `fields=` projection and `expand=links`."""

    fields: tuple[str, ...] = ()
    links: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, list[str]]) -> _View:
        fields = tuple(
            f.strip() for v in params.get("fields", []) for f in v.split(",") if f.strip()
        )
        expand = {e.strip() for v in params.get("expand", []) for e in v.split(",")}
        return cls(fields, "links" in expand)


def _one(params: Mapping[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    return values[-1] if values else default


def _int_param(params: Mapping[str, list[str]], name: str, default: int) -> int:
    raw = _one(params, name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise HttpError(400, f"parameter {name} must be an integer, got {raw!r}") from None


class TrackerApi:
    """Endpoint logic over an `Org`; thread-safe (scroll state has its own lock)."""

    def __init__(
        self,
        org: Org,
        *,
        paged_cap: int = PAGED_CAP,
        max_per_scroll: int = MAX_PER_SCROLL,
        relative_links: bool = False,
    ) -> None:
        self.org = org
        self.paged_cap = paged_cap
        self.max_per_scroll = max_per_scroll
        self.relative_links = relative_links
        self._scroll_lock = threading.Lock()
        self._scrolls: dict[str, _Scroll] = {}
        self._scroll_pages: dict[str, str] = {}
        self._scroll_seq = itertools.count(1)
        self.scroll_clears: list[dict[str, str]] = []

    # --- dispatch --------------------------------------------------------------
    def handle(self, method: str, target: str, host: str, body: bytes) -> Response:
        parts = urlsplit(target)
        params = parse_qs(parts.query, keep_blank_values=True)
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        base = "" if self.relative_links else f"http://{host}"
        try:
            if len(segments) < 2 or segments[0] not in ("v2", "v3"):
                raise HttpError(404, f"no such endpoint: {parts.path}")
            version, rest = segments[0], segments[1:]
            if rest == ["issues", "_search"]:
                self._require(method, "POST")
                return self.search(version, params, self._json(body), base)
            if rest == ["issues", "_count"]:
                self._require(method, "POST")
                return json_response(len(self._select(self._json(body))[0]))
            if rest == ["system", "search", "scroll", "_clear"]:
                self._require(method, "POST")
                return self.clear_scroll(self._json(body))
            if len(rest) == 2 and rest[0] == "issues":
                self._require(method, "GET")
                return self.get_issue(rest[1], params)
            if len(rest) == 3 and rest[0] == "issues" and rest[2] == "links":
                self._require(method, "GET")
                return json_response(self._issue(rest[1]).links)
            if len(rest) == 3 and rest[0] == "issues" and rest[2] == "changelog":
                self._require(method, "GET")
                return self.changelog(version, rest[1], params, base)
            raise HttpError(404, f"no such endpoint: {parts.path}")
        except HttpError as exc:
            return error_response(exc.status, exc.message, exc.headers)

    @staticmethod
    def _require(method: str, expected: str) -> None:
        if method != expected:
            raise HttpError(405, f"method {method} not allowed here")

    @staticmethod
    def _json(body: bytes) -> Any:
        if not body.strip():
            return {}
        try:
            return json.loads(body)
        except ValueError:
            raise HttpError(400, "request body is not valid JSON") from None

    def _issue(self, id_or_key: str) -> IssueRecord:
        record = self.org.resolve(id_or_key)
        if record is None:
            raise HttpError(404, f"Issue {id_or_key} not found")
        return record

    # --- rendering -------------------------------------------------------------
    def render(self, rid: str, data: dict[str, Any], links: list[Any], view: _View) -> bytes:
        if view.fields:
            wanted = {"id", "key", *view.fields}
            projected = {k: v for k, v in data.items() if k in wanted}
            if view.links:
                projected["links"] = links
            return json.dumps(projected, ensure_ascii=False).encode()
        encoded = self.org.issue_json(rid, data)
        if not view.links:
            return encoded
        return encoded[:-1] + b',"links":' + json.dumps(links, ensure_ascii=False).encode() + b"}"

    def _render_list(
        self, items: list[tuple[str, dict[str, Any], list[Any]]], view: _View
    ) -> bytes:
        return b"[" + b",".join(self.render(rid, d, ls, view) for rid, d, ls in items) + b"]"

    # --- selection -------------------------------------------------------------
    def _select(self, body: Any) -> tuple[list[IssueRecord], list[tuple[str, bool]]]:
        """Records matching a search body, by the API's precedence:
        queue, then keys, then filter, then query."""
        if not isinstance(body, dict):
            raise HttpError(400, "search body must be a JSON object")
        org = self.org
        if body.get("queue"):
            queue = str(body["queue"]).upper()
            return [r for r in org.live() if r.queue == queue], []
        if body.get("keys"):
            keys = body["keys"] if isinstance(body["keys"], list) else [body["keys"]]
            found: dict[str, IssueRecord] = {}
            for key in keys:
                record = org.resolve(str(key))
                if record is not None:
                    found.setdefault(record.id, record)
            return list(found.values()), []
        if body.get("filter"):
            return self._filter(body["filter"]), []
        query = body.get("query")
        if query:
            try:
                parsed = parse_query(str(query))
            except QueryError as exc:
                raise HttpError(400, f"invalid query: {exc}") from None
            return [r for r in org.live() if parsed.predicate(r)], parsed.sort
        return list(org.live()), []

    def _filter(self, spec: Any) -> list[IssueRecord]:
        if not isinstance(spec, dict):
            raise HttpError(400, "filter must be an object")

        def values(v: Any) -> set[str]:
            return {str(x).lower() for x in (v if isinstance(v, list) else [v])}

        checks = []
        for name, value in spec.items():
            wanted = values(value)
            if name == "queue":
                checks.append(lambda r, w=wanted: r.queue.lower() in w)
            elif name == "key":
                checks.append(
                    lambda r, w=wanted: bool({r.key.lower(), *map(str.lower, r.aliases)} & w)
                )
            elif name == "status":
                checks.append(
                    lambda r, w=wanted: (
                        r.status["key"].lower() in w or r.status["display"].lower() in w
                    )
                )
            else:
                raise HttpError(400, f"filter field {name!r} is not supported by the emulator")
        return [r for r in self.org.live() if all(c(r) for c in checks)]

    # --- search ----------------------------------------------------------------
    def search(self, version: str, params: dict[str, list[str]], body: Any, base: str) -> Response:
        view = _View.from_params(params)
        if _one(params, "scrollId"):
            return self._scroll_next(version, params, view, base)
        if _one(params, "scrollType"):
            return self._scroll_start(version, params, body, view, base)
        return self._paged(version, params, body, view, base)

    def _paged(
        self, version: str, params: dict[str, list[str]], body: Any, view: _View, base: str
    ) -> Response:
        per_page = _int_param(params, "perPage", 50)
        page = _int_param(params, "page", 1)
        if per_page < 1 or page < 1:
            raise HttpError(400, "perPage and page must be positive")
        records, sort = self._select(body)
        sort_records(records, sort)
        total = len(records)
        start = (page - 1) * per_page
        if start >= self.paged_cap:
            raise HttpError(
                400,
                f"Paged search is limited to the first {self.paged_cap} results; "
                "use scroll (scrollType) to read more",
            )
        chunk = records[start : min(start + per_page, total, self.paged_cap)]
        pages = max(1, math.ceil(total / per_page))
        headers = {"X-Total-Count": str(total), "X-Total-Pages": str(pages)}
        if page < pages:
            url = f"{base}/{version}/issues/_search?perPage={per_page}&page={page + 1}"
            headers["Link"] = f'<{url}>; rel="next"'
        items = [(r.id, r.data, r.links) for r in chunk]
        return Response(200, self._render_list(items, view), headers)

    def _scroll_start(
        self, version: str, params: dict[str, list[str]], body: Any, view: _View, base: str
    ) -> Response:
        if isinstance(body, dict) and (body.get("keys") or body.get("queue")):
            raise HttpError(400, "Scroll is not supported")
        scroll_type = _one(params, "scrollType")
        if scroll_type not in ("sorted", "unsorted"):
            raise HttpError(400, f"scrollType must be sorted or unsorted, not {scroll_type!r}")
        per_scroll = _int_param(params, "perScroll", DEFAULT_PER_SCROLL)
        if not 1 <= per_scroll <= self.max_per_scroll:
            raise HttpError(400, f"perScroll must be within 1..{self.max_per_scroll}")
        ttl = _int_param(params, "scrollTTLMillis", DEFAULT_SCROLL_TTL_MS) / 1000.0
        number = next(self._scroll_seq)
        with self.org.lock:
            records, sort = self._select(body)
            if scroll_type == "sorted":
                sort_records(records, sort)
            else:
                # Real Tracker ignores "Sort by" in an unsorted scroll and returns hits in
                # no useful order: a client relying on any order must fail here, not live.
                random.Random(self.org.seed * 1_000_003 + number).shuffle(records)
            items = [(r.id, r.data, r.links) for r in records]
        scroll = _Scroll(
            context=f"scroll{number}",
            token=f"{secrets.token_hex(16)}:{number}",
            items=items,
            per_scroll=per_scroll,
            ttl=ttl,
            expires=time.monotonic() + ttl,
        )
        with self._scroll_lock:
            self._expire_scrolls()
            self._scrolls[scroll.context] = scroll
        return self._scroll_page(scroll, version, view, base)

    def _scroll_next(
        self, version: str, params: dict[str, list[str]], view: _View, base: str
    ) -> Response:
        page_id = _one(params, "scrollId") or ""
        with self._scroll_lock:
            self._expire_scrolls()
            context = self._scroll_pages.get(page_id)
            scroll = self._scrolls.get(context) if context else None
            if scroll is None:
                raise HttpError(404, f"scroll {page_id!r} not found or expired")
            ttl_ms = _one(params, "scrollTTLMillis")
            if ttl_ms:
                scroll.ttl = int(ttl_ms) / 1000.0
            scroll.expires = time.monotonic() + scroll.ttl
        return self._scroll_page(scroll, version, view, base)

    def _scroll_page(self, scroll: _Scroll, version: str, view: _View, base: str) -> Response:
        with self._scroll_lock:
            chunk = scroll.items[scroll.pos : scroll.pos + scroll.per_scroll]
            scroll.pos += len(chunk)
            scroll.pages += 1
            page_id = f"{scroll.context}.{scroll.pages}.{secrets.token_hex(4)}"
            scroll.page_ids.add(page_id)
            self._scroll_pages[page_id] = scroll.context
            if not chunk:
                scroll.exhausted = True
        headers = {
            "X-Scroll-Id": page_id,
            "X-Scroll-Token": scroll.token,
            "X-Total-Count": str(len(scroll.items)),
        }
        if chunk:
            ttl_ms = int(scroll.ttl * 1000)
            query = f"scrollId={quote(page_id)}&scrollTTLMillis={ttl_ms}"
            url = f"{base}/{version}/issues/_search?{query}"
            headers["Link"] = f'<{url}>; rel="next"'
        return Response(200, self._render_list(chunk, view), headers)

    def _expire_scrolls(self) -> None:
        now = time.monotonic()
        for context in [c for c, s in self._scrolls.items() if s.expires < now]:
            self._drop_scroll(context)

    def _drop_scroll(self, context: str) -> None:
        scroll = self._scrolls.pop(context, None)
        if scroll:
            for page_id in scroll.page_ids:
                self._scroll_pages.pop(page_id, None)

    def clear_scroll(self, body: Any) -> Response:
        """Body `{scrollId: scrollToken, ...}`; a context is freed once every page id
        it handed out has been cleared (what the API asks clients to send)."""
        if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
            raise HttpError(400, "body must be an object of scrollId: scrollToken pairs")
        with self._scroll_lock:
            self.scroll_clears.append(dict(body))
            for page_id, token in body.items():
                context = self._scroll_pages.get(page_id)
                scroll = self._scrolls.get(context) if context else None
                if scroll is None:
                    continue
                if token != scroll.token:
                    raise HttpError(400, f"scroll token does not match scroll {page_id!r}")
                scroll.cleared.add(page_id)
                if scroll.cleared >= scroll.page_ids:
                    self._drop_scroll(scroll.context)
        return Response(200, b"", {})

    def open_scrolls(self) -> int:
        """Scroll contexts neither cleared nor read to their empty last page."""
        with self._scroll_lock:
            self._expire_scrolls()
            return sum(1 for s in self._scrolls.values() if not s.exhausted)

    def live_scrolls(self) -> int:
        """Scroll contexts still held (not fully cleared, not expired)."""
        with self._scroll_lock:
            self._expire_scrolls()
            return len(self._scrolls)

    # --- issues and changelogs -------------------------------------------------
    def get_issue(self, id_or_key: str, params: dict[str, list[str]]) -> Response:
        record = self._issue(id_or_key)
        view = _View.from_params(params)
        return Response(200, self.render(record.id, record.data, record.links, view), {})

    def changelog(
        self, version: str, id_or_key: str, params: dict[str, list[str]], base: str
    ) -> Response:
        record = self._issue(id_or_key)
        per_page = _int_param(params, "perPage", 50)
        if not 1 <= per_page <= MAX_CHANGELOG_PER_PAGE:
            raise HttpError(400, f"perPage must be within 1..{MAX_CHANGELOG_PER_PAGE}")
        cursor = _one(params, "id")
        types = {t.strip() for v in params.get("type", []) for t in v.split(",") if t.strip()}
        wanted_fields = {f.strip() for v in params.get("field", []) for f in v.split(",") if f}
        with self.org.lock:
            entries = record.changelog
            position = record.entries_after(cursor)
            total = len(entries)
        page: list[dict[str, Any]] = []
        while position < total and len(page) < per_page:
            entry = entries[position]
            position += 1
            if types and entry.get("type") not in types:
                continue
            if wanted_fields and not any(
                (f.get("field") or {}).get("id") in wanted_fields for f in entry.get("fields", ())
            ):
                continue
            page.append(entry)
        headers: dict[str, str] = {}
        if len(page) == per_page:
            path = f"{base}/{version}/issues/{quote(record.id)}/changelog"
            extra = "".join(f"&type={quote(t)}" for t in sorted(types))
            extra += "".join(f"&field={quote(f)}" for f in sorted(wanted_fields))
            first = f"{path}?perPage={per_page}{extra}"
            following = f"{first}&id={page[-1]['id']}"
            headers["Link"] = f'<{first}>; rel="first", <{following}>; rel="next"'
        return json_response(page, headers)
