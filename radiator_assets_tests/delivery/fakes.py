"""Loopback fakes of the Sheets API (with Google's token endpoint) and the Telegram Bot API.

Each is a `http.server` thread on a free port that records every request. A test queues
`refusals` (status, headers, body) that answer the next requests instead of the fake.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    """A threaded loopback HTTP server; subclasses answer in `respond`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.refusals: deque[Answer] = deque()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                record = Recorded(
                    self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                with fake._lock:
                    fake.requests.append(record)
                    refuse = fake.refusals and fake.refusable(record)
                    answer = fake.refusals.popleft() if refuse else fake.respond(record)
                body = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def respond(self, record: Recorded) -> Answer:
        raise NotImplementedError

    def refusable(self, record: Recorded) -> bool:
        """Whether a queued refusal may answer `record`."""
        return True


class FakeSheets(RecordingServer):
    """Google's token endpoint (`/token`) and spreadsheets.get / batchUpdate of one
    spreadsheet, keeping its sheets' properties and the rows appended to each."""

    def __init__(self, sheets: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.sheets: list[dict[str, Any]] = [dict(s) for s in sheets or []]
        self.rows: dict[int, list[Any]] = {}
        self._next_id = 1000

    def refusable(self, record: Recorded) -> bool:
        return record.path != "/token"

    def api_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path != "/token"]

    def batch_updates(self) -> list[list[dict[str, Any]]]:
        return [
            r.json()["requests"]
            for r in self.api_calls()
            if r.path.split("?")[0].endswith(":batchUpdate")
        ]

    def respond(self, record: Recorded) -> Answer:
        if record.path == "/token":
            return Answer(200, {"access_token": "fake-access", "expires_in": 3600})
        if record.method == "GET":
            return Answer(200, {"sheets": [{"properties": dict(s)} for s in self.sheets]})
        return Answer(200, {"replies": [self._apply(r) for r in record.json()["requests"]]})

    def _apply(self, request: dict[str, Any]) -> dict[str, Any]:
        kind, body = next(iter(request.items()))
        if kind == "addSheet":
            self._next_id += 1
            properties = {**body["properties"], "sheetId": self._next_id, "index": len(self.sheets)}
            self.sheets.append(properties)
            return {"addSheet": {"properties": properties}}
        if kind == "deleteSheet":
            self.sheets = [s for s in self.sheets if s["sheetId"] != body["sheetId"]]
        elif kind == "updateSheetProperties":
            for sheet in self.sheets:
                if sheet["sheetId"] == body["properties"]["sheetId"]:
                    sheet.update(body["properties"])
        elif kind == "appendCells":
            self.rows.setdefault(body["sheetId"], []).extend(body["rows"])
        return {}


@dataclass
class BotCall:
    """One Bot API call: the method, its form fields, and uploaded files (name, bytes)."""

    method: str
    fields: dict[str, str]
    files: dict[str, tuple[str, bytes]]


class FakeTelegram(RecordingServer):
    """`/bot<token>/<method>`: records each call; getUpdates serves `updates` from the
    offset on; other methods answer ok."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.updates: list[dict[str, Any]] = []

    def calls(self) -> list[BotCall]:
        return [parse_call(r) for r in self.requests]

    def respond(self, record: Recorded) -> Answer:
        call = parse_call(record)
        if not record.path.startswith(f"/bot{self.token}/"):
            return Answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if call.method == "getUpdates":
            offset = int(call.fields.get("offset", 0))
            return Answer(
                200, {"ok": True, "result": [u for u in self.updates if u["update_id"] >= offset]}
            )
        return Answer(200, {"ok": True, "result": {"message_id": len(self.requests)}})


def parse_call(record: Recorded) -> BotCall:
    method = urlsplit(record.path).path.rsplit("/", 1)[-1]
    content_type = record.headers.get("Content-Type", "")
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + record.body)
        fields: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if part.get_filename():
                files[name] = (part.get_filename(), payload)
            else:
                fields[name] = payload.decode()
        return BotCall(method, fields, files)
    form = parse_qs(record.body.decode(), keep_blank_values=True)
    return BotCall(method, {k: v[-1] for k, v in form.items()}, {})


def photo_bytes() -> bytes:
    """A tiny valid PNG (1x1, white)."""
    import base64

    return base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
    )
