"""The emulator's HTTP side: a real loopback server in a background thread.

`TrackerEmulator` checks auth headers like Tracker (401 for a missing or
wrong Authorization, 403 for a missing or wrong organisation header), applies
injected faults and optional latency, logs every request, and hands the rest
to `TrackerApi`. Tests talk to it over a real socket, exactly as the client
talks to Tracker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from radiator_assets.emulator import mutations
from radiator_assets.emulator.api import (
    MAX_PER_SCROLL,
    PAGED_CAP,
    Response,
    TrackerApi,
    error_response,
)
from radiator_assets.emulator.faults import Fault, FaultPlan
from radiator_assets.emulator.generator import generate_org
from radiator_assets.emulator.model import Org

log = logging.getLogger("radiator_assets.emulator")

DEFAULT_TOKEN = "emulator-token"
DEFAULT_ORG_ID = "emulator-org"


@dataclass
class RequestRecord:
    """One request as the emulator saw it, logged on arrival; `status` is filled in when
    the answer goes out (None: no answer yet, or the connection was dropped)."""

    method: str
    path: str
    query: str
    at: float
    body: bytes = b""
    status: int | None = None
    fault: str | None = None

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    emulator: TrackerEmulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or go away are part of the test plan, not errors.
        log.debug("connection from %s ended abruptly", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TrackerEmulator/1.0"
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Small JSON answers on keep-alive connections: no Nagle delays.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.emulator._connections.add(self.connection)

    def finish(self) -> None:
        self.server.emulator._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        emulator = self.server.emulator
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        target = self.path
        record = emulator._record(method, target, raw)
        emulator._pause(emulator.latency)
        fault = emulator.faults.take(method, target)
        record.fault = fault.kind if fault else None
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "slow":
            emulator._pause(fault.delay)
        if fault is not None and fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            response = error_response(fault.status, f"injected HTTP {fault.status}", headers)
        elif fault is not None and fault.kind == "body":
            response = Response(fault.status, fault.body, {})
        else:
            response = emulator.respond(method, target, self.headers, raw)
            if fault is not None and fault.kind == "headers" and response.status < 300:
                response.headers.update(fault.headers)
        body = response.body
        declared = len(body)
        if fault is not None and response.status < 300 and body:
            if fault.kind == "truncate":
                body = body[: max(1, len(body) // 2)]
                declared = len(body)
            elif fault.kind == "short_body":
                body = body[: max(1, len(body) // 2)]
                self.close_connection = True
        record.status = response.status
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(declared))
            for name, value in response.headers.items():
                self.send_header(name, value)
            # Headers and body in one write: one segment for small answers.
            self._headers_buffer.append(b"\r\n" + body)
            self.flush_headers()
        except OSError:
            self.close_connection = True


class TrackerEmulator:
    """A Tracker look-alike on a loopback port; use as a context manager or start()/stop()."""

    def __init__(
        self,
        org: Org | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        org_id: str = DEFAULT_ORG_ID,
        cloud_org: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        paged_cap: int = PAGED_CAP,
        max_per_scroll: int = MAX_PER_SCROLL,
        relative_links: bool = False,
    ) -> None:
        self.org = org if org is not None else generate_org(seed=7, n_issues=50)
        self.token = token
        self.org_id = org_id
        self.org_header = "X-Cloud-Org-ID" if cloud_org else "X-Org-ID"
        self.other_org_header = "X-Org-ID" if cloud_org else "X-Cloud-Org-ID"
        self.host = host
        self.port = port
        self.latency = latency
        self.api = TrackerApi(
            self.org,
            paged_cap=paged_cap,
            max_per_scroll=max_per_scroll,
            relative_links=relative_links,
        )
        self.faults = FaultPlan()
        self.errors: list[BaseException] = []
        self._log_lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> TrackerEmulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"tracker-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TrackerEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """Headers a correct client sends (handy for raw `requests` calls in tests)."""
        return {"Authorization": f"OAuth {self.token}", self.org_header: self.org_id}

    def __repr__(self) -> str:
        return f"TrackerEmulator({self.base_url}, issues={len(self.org.records)})"

    # --- request handling ----------------------------------------------------------
    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _auth_error(self, headers: Any) -> Response | None:
        auth = headers.get("Authorization")
        if auth not in (f"OAuth {self.token}", f"Bearer {self.token}"):
            return error_response(401, "Not authorized: missing or invalid Authorization header")
        if headers.get(self.other_org_header) is not None:
            return error_response(
                403, f"Access denied: this organisation is addressed with {self.org_header}"
            )
        if headers.get(self.org_header) != self.org_id:
            return error_response(403, "Access denied: unknown organisation")
        return None

    def respond(self, method: str, target: str, headers: Any, body: bytes) -> Response:
        denied = self._auth_error(headers)
        if denied is not None:
            return denied
        try:
            return self.api.handle(method, target, headers.get("Host") or self.base_url[7:], body)
        except Exception as exc:  # a bug in the emulator: make it visible to the test
            log.exception("emulator failed on %s %s", method, target)
            self.errors.append(exc)
            return error_response(500, f"emulator error: {type(exc).__name__}: {exc}")

    def _record(self, method: str, target: str, body: bytes) -> RequestRecord:
        parts = urlsplit(target)
        record = RequestRecord(method, parts.path, parts.query, time.monotonic(), body[:4096])
        with self._log_lock:
            self._requests.append(record)
        return record

    # --- introspection for tests ---------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._requests)

    def request_count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests whose path matches the regex `path` (search), and `method` if given."""
        pattern = re.compile(path) if path else None
        return sum(
            1
            for r in self.requests
            if (pattern is None or pattern.search(r.path))
            and (method is None or r.method == method.upper())
        )

    def counts_by_path(self) -> Counter[str]:
        return Counter(f"{r.method} {r.path}" for r in self.requests)

    def reset_requests(self) -> None:
        with self._log_lock:
            self._requests.clear()

    def add_fault(self, *faults: Fault) -> None:
        self.faults.add(*faults)

    def clear_faults(self) -> None:
        self.faults.clear()

    def open_scrolls(self) -> int:
        return self.api.open_scrolls()

    @property
    def scroll_clears(self) -> list[dict[str, str]]:
        return list(self.api.scroll_clears)

    # --- mutations (thread-safe, usable while serving) -----------------------------
    @property
    def now(self) -> datetime:
        return self.org.now

    def advance_clock(self, delta: timedelta) -> datetime:
        return mutations.advance_clock(self.org, delta)

    def add_changes(self, issues: Any = 1, **kwargs: Any) -> list[str]:
        return mutations.add_changes(self.org, issues, **kwargs)

    def set_status(self, id_or_key: str, status: str) -> dict[str, Any]:
        return mutations.set_status(self.org, id_or_key, status)

    def update_field(self, id_or_key: str, field_id: str, value: Any) -> dict[str, Any]:
        return mutations.update_field(self.org, id_or_key, field_id, value)

    def create_issue(self, queue: str = "CPO", **kwargs: Any) -> dict[str, Any]:
        return mutations.create_issue(self.org, queue, **kwargs)

    def delete_issue(self, id_or_key: str) -> None:
        mutations.delete_issue(self.org, id_or_key)

    def move_issue(self, id_or_key: str, queue: str) -> str:
        return mutations.move_issue(self.org, id_or_key, queue)

    def replace_json(self, id_or_key: str, data: dict[str, Any]) -> dict[str, Any]:
        return mutations.replace_json(self.org, id_or_key, data)

    def replace_entry(self, id_or_key: str, position: int, entry: dict[str, Any]) -> dict[str, Any]:
        return mutations.replace_entry(self.org, id_or_key, position, entry)
