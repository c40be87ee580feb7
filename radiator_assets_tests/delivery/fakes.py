"""Loopback fakes of the Sheets API (with Google's token endpoint) and the Telegram Bot API.

Each is a `http.server` thread on a free port that records every request. A test queues
`refusals` (status, headers, body) that answer the next requests instead of the fake.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import deque
from collections.abc import Callable
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
    spreadsheet, keeping its sheets' properties, rows and conditional-format rules.

    As strict as the real API where publishing depends on it: a batchUpdate is checked
    and applied whole or not at all (a refused one is a 400 that changes nothing); sheet
    titles are unique; an unknown sheetId is a 400; `frozenRowCount` must stay below
    `rowCount` ("You can't freeze all visible rows on the sheet."); a new sheet has 1000
    rows unless it says otherwise, appendCells grows it, a smaller rowCount trims it."""

    def __init__(self, sheets: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.sheets: list[dict[str, Any]] = [dict(s) for s in sheets or []]
        for sheet in self.sheets:
            sheet.setdefault("gridProperties", {"rowCount": 1000, "columnCount": 26})
        self.rows: dict[int, list[Any]] = {}
        self.rules: dict[int, list[Any]] = {}
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

    def sheet(self, title: str) -> dict[str, Any]:
        [found] = [s for s in self.sheets if s["title"] == title]
        return found

    def respond(self, record: Recorded) -> Answer:
        if record.path == "/token":
            return Answer(200, {"access_token": "fake-access", "expires_in": 3600})
        if record.method == "GET":
            sheets = [
                {"properties": dict(s), "conditionalFormats": self.rules.get(s["sheetId"], [])}
                for s in self.sheets
            ]
            return Answer(200, {"sheets": sheets})
        saved = copy.deepcopy((self.sheets, self.rows, self.rules, self._next_id))
        try:
            return Answer(200, {"replies": [self._apply(r) for r in record.json()["requests"]]})
        except ValueError as exc:
            self.sheets, self.rows, self.rules, self._next_id = saved
            error = {"code": 400, "message": str(exc), "status": "INVALID_ARGUMENT"}
            return Answer(400, {"error": error})

    def _by_id(self, sheet_id: int) -> dict[str, Any]:
        for sheet in self.sheets:
            if sheet["sheetId"] == sheet_id:
                return sheet
        raise ValueError(f"No grid with id: {sheet_id}")

    def _title_free(self, title: str, sheet: dict[str, Any] | None = None) -> None:
        if any(s["title"] == title and s is not sheet for s in self.sheets):
            raise ValueError(f'A sheet with the name "{title}" already exists.')

    def _apply(self, request: dict[str, Any]) -> dict[str, Any]:
        kind, body = next(iter(request.items()))
        handler = getattr(self, f"_{kind}", None)
        if handler is None:  # formatting requests: only their sheet is checked
            ranges = [body.get("range"), body.get("filter", {}).get("range")]
            ranges += body.get("rule", {}).get("ranges", [])
            for range_ in ranges:
                if range_ is not None:
                    self._by_id(range_["sheetId"])
            return {}
        return handler(body)

    def _addSheet(self, body: dict[str, Any]) -> dict[str, Any]:
        self._title_free(body["properties"]["title"])
        self._next_id += 1
        grid = {"rowCount": 1000, "columnCount": 26, **body["properties"].get("gridProperties", {})}
        properties = {
            **body["properties"],
            "sheetId": self._next_id,
            "index": len(self.sheets),
            "gridProperties": grid,
        }
        self.sheets.append(properties)
        return {"addSheet": {"properties": properties}}

    def _deleteSheet(self, body: dict[str, Any]) -> dict[str, Any]:
        self._by_id(body["sheetId"])
        if len(self.sheets) == 1:
            raise ValueError("You can't remove all the sheets in a document.")
        self.sheets = [s for s in self.sheets if s["sheetId"] != body["sheetId"]]
        return {}

    def _updateSheetProperties(self, body: dict[str, Any]) -> dict[str, Any]:
        properties = body["properties"]
        sheet = self._by_id(properties["sheetId"])
        if "title" in properties:
            self._title_free(properties["title"], sheet)
        grid = {**sheet["gridProperties"], **properties.get("gridProperties", {})}
        if grid.get("frozenRowCount", 0) >= grid["rowCount"]:
            raise ValueError("You can't freeze all visible rows on the sheet.")
        sheet.update(properties)
        sheet["gridProperties"] = grid
        rows = self.rows.get(sheet["sheetId"])
        if rows is not None:
            del rows[grid["rowCount"] :]
        return {}

    def _appendCells(self, body: dict[str, Any]) -> dict[str, Any]:
        sheet = self._by_id(body["sheetId"])
        rows = self.rows.setdefault(body["sheetId"], [])
        rows.extend(body["rows"])
        grid = sheet["gridProperties"]
        grid["rowCount"] = max(grid["rowCount"], len(rows))
        return {}

    def _copyPaste(self, body: dict[str, Any]) -> dict[str, Any]:
        source, destination = body["source"], body["destination"]
        self._by_id(source["sheetId"])
        target = self._by_id(destination["sheetId"])
        first, last = source["startRowIndex"], source["endRowIndex"]
        if last - first > target["gridProperties"]["rowCount"] - destination["startRowIndex"]:
            raise ValueError("Range exceeds grid limits.")
        copied = copy.deepcopy(self.rows.get(source["sheetId"], [])[first:last])
        rows = self.rows.setdefault(destination["sheetId"], [])
        start = destination["startRowIndex"]
        rows[start : start + last - first] = copied + [{}] * (last - first - len(copied))
        return {}

    def _addConditionalFormatRule(self, body: dict[str, Any]) -> dict[str, Any]:
        [sheet_id] = {r["sheetId"] for r in body["rule"]["ranges"]}
        self._by_id(sheet_id)
        self.rules.setdefault(sheet_id, []).insert(body.get("index", 0), body["rule"])
        return {}

    def _deleteConditionalFormatRule(self, body: dict[str, Any]) -> dict[str, Any]:
        rules = self.rules.get(self._by_id(body["sheetId"])["sheetId"], [])
        if not 0 <= body["index"] < len(rules):
            raise ValueError(f"Invalid index {body['index']} of a conditional format rule")
        del rules[body["index"]]
        return {}


@dataclass
class BotCall:
    """One Bot API call: the method, its form fields, and uploaded files (name, bytes)."""

    method: str
    fields: dict[str, str]
    files: dict[str, tuple[str, bytes]]


class FakeTelegram(RecordingServer):
    """`/bot<token>/<method>`: records each call; getUpdates serves `updates` from the
    offset on; getMe names the bot `username`; other methods answer ok. `refusing` holds
    lasting refusals: (which calls, the answer), e.g. every call to one chat."""

    def __init__(self, token: str, username: str = "radiator_bot") -> None:
        super().__init__()
        self.token = token
        self.username = username
        self.updates: list[dict[str, Any]] = []
        self.refusing: list[tuple[Callable[[BotCall], bool], Answer]] = []

    def calls(self) -> list[BotCall]:
        return [parse_call(r) for r in self.requests]

    def respond(self, record: Recorded) -> Answer:
        call = parse_call(record)
        if not record.path.startswith(f"/bot{self.token}/"):
            return Answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        for matches, answer in self.refusing:
            if matches(call):
                return answer
        if call.method == "getMe":
            bot = {"id": int(self.token.split(":")[0]), "is_bot": True, "username": self.username}
            return Answer(200, {"ok": True, "result": bot})
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
