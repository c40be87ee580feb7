"""Sending the sheets of `radiator_assets.delivery.sheets` through Google's API client.

`google-api-python-client` with the Sheets v4 discovery document it ships (no discovery
request), a service account from `google-auth` (its JSON's `token_uri` says where tokens
come from), and `client_options={"api_endpoint": ...}` when the API is elsewhere (the
tests' loopback fake). Each call is executed once by the library (`num_retries=0`) and
retried here, honouring `Retry-After` (`radiator_assets.delivery.retry`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from radiator_assets.delivery.retry import (
    RetryableError,
    RetryPolicy,
    call_with_retry,
    parse_retry_after,
)
from radiator_assets.delivery.sheets import (
    CHUNK_ROWS,
    SHEETS_SCOPE,
    Request,
    SheetContent,
    grid_range,
)

log = logging.getLogger(__name__)

#: Google's write quota is per minute: without a Retry-After, the waits (5, 10, 20, 40 s)
#: reach past a minute before the last attempt
SHEETS_RETRY = RetryPolicy(attempts=6, max_wait_seconds=180.0, fallback_seconds=5.0)


class SheetsError(RuntimeError):
    """The Sheets API refused a request for good (not a 429 or 5xx), or kept refusing."""


class SheetsCredentialsError(SheetsError):
    """The service account's key file cannot be used. Names the variable, never the path:
    the path is configured as a secret, and Dagster's event log keeps an error's text."""


def service_account_credentials(credentials_path: Path) -> Any:
    """The service account of the JSON key at `credentials_path`, scoped to Sheets.

    The library's own errors name the path (`FileNotFoundError: ... '/srv/...'`), so they
    are replaced, not chained (`from None`), by one naming the variable."""
    from google.auth.exceptions import GoogleAuthError
    from google.oauth2 import service_account

    variable = "GOOGLE_SHEETS_CREDENTIALS_PATH"
    try:
        return service_account.Credentials.from_service_account_file(
            str(credentials_path), scopes=[SHEETS_SCOPE]
        )
    except OSError as exc:
        raise SheetsCredentialsError(
            f"{variable}: the service account's key file cannot be read "
            f"({type(exc).__name__}); check the variable and the file"
        ) from None
    except (ValueError, KeyError, TypeError, GoogleAuthError) as exc:
        raise SheetsCredentialsError(
            f"{variable}: the file is not a service account's JSON key "
            f"({type(exc).__name__}); download a new key (IAM -> Service accounts -> Keys)"
        ) from None


def sheets_service(credentials_path: Path, api_endpoint: str | None = None) -> Any:
    """A Sheets v4 service authorised by the service account in `credentials_path`."""
    from googleapiclient.discovery import build

    credentials = service_account_credentials(credentials_path)
    options = {"api_endpoint": api_endpoint} if api_endpoint else None
    return build(
        "sheets",
        "v4",
        credentials=credentials,
        client_options=options,
        static_discovery=True,
        cache_discovery=False,
    )


def spreadsheet_url(spreadsheet_id: str, sheet_id: int | None = None) -> str:
    url = f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit"
    return url if sheet_id is None else f"{url}#gid={sheet_id}"


@dataclass(frozen=True)
class ExistingSheet:
    """A sheet of the spreadsheet: its id, position and how many conditional-format rules
    it holds (the swap deletes them by index before adding the report's)."""

    sheet_id: int
    index: int
    conditional_formats: int = 0


#: `<title> (building 20261130T040512Z 1a2b3c4d)`: the run's start and a random id
_BUILDING = re.compile(r" \(building (\d{8}T\d{6}Z) [0-9a-f]+\)$")
#: a building sheet this old was left by a run that died: the next publish deletes it
STALE_BUILDING = timedelta(hours=1)
#: header + at least one row: Sheets refuses to freeze every row of a sheet
MIN_ROWS = 2


def building_title(title: str, started: datetime, run_id: str) -> str:
    """The hidden sheet one run builds `title` in: unique per run, so a concurrent run
    never deletes it, and stamped, so a later run knows when it is abandoned."""
    return f"{title} (building {started:%Y%m%dT%H%M%SZ} {run_id})"


def stale_building_sheets(existing: dict[str, ExistingSheet], now: datetime) -> list[int]:
    """Ids of the building sheets left more than `STALE_BUILDING` ago."""
    stale = []
    for title, sheet in existing.items():
        found = _BUILDING.search(title)
        if found is None:
            continue
        started = datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if now - started > STALE_BUILDING:
            stale.append(sheet.sheet_id)
    return stale


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _run_id() -> str:
    return uuid.uuid4().hex[:8]


@dataclass
class SheetsPublisher:
    """Replaces sheets of one spreadsheet, one batchUpdate per step (see the module doc
    of `radiator_assets.delivery.sheets`)."""

    service: Any
    spreadsheet_id: str
    chunk_rows: int = CHUNK_ROWS
    policy: RetryPolicy = field(default_factory=lambda: SHEETS_RETRY)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = _utc_now
    run_id: str = field(default_factory=_run_id)

    def _execute(self, what: str, request: Any) -> Any:
        """`request`, retried after a 429, a 5xx or a transport failure (refused
        connection, timeout, DNS: the API may be back in a moment)."""
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError
        from httplib2 import HttpLib2Error

        def once() -> Any:
            try:
                return request.execute(num_retries=0)
            except RefreshError as exc:  # the token endpoint's answer names no secret
                raise SheetsError(f"no access token for the service account: {exc}") from None
            except HttpError as exc:
                status = exc.status_code or 0
                reason = f"Sheets API answered {status} to {what}"
                if status == 429 or status >= 500:
                    wait = parse_retry_after(exc.resp.get("retry-after"))
                    raise RetryableError(reason, wait) from None
                raise SheetsError(f"{reason}: {exc.reason}") from None
            except (TransportError, HttpLib2Error, OSError) as exc:
                reason = f"could not reach the Sheets API ({type(exc).__name__}) to {what}"
                raise RetryableError(reason) from None

        try:
            return call_with_retry(once, self.policy, self.sleep)
        except RetryableError as exc:
            raise SheetsError(f"{exc.reason}, still after retries") from None

    def existing(self) -> dict[str, ExistingSheet]:
        """Title -> id, position and conditional-format rule count of each sheet."""
        request = self.service.spreadsheets().get(
            spreadsheetId=self.spreadsheet_id,
            fields="sheets.properties,sheets.conditionalFormats.ranges.sheetId",
        )
        answer = self._execute("get the sheets", request)
        return {
            s["properties"]["title"]: ExistingSheet(
                s["properties"]["sheetId"],
                s["properties"].get("index", 0),
                len(s.get("conditionalFormats", [])),
            )
            for s in answer.get("sheets", [])
        }

    def batch_update(self, what: str, requests: Sequence[Request]) -> dict[str, Any]:
        request = self.service.spreadsheets().batchUpdate(
            spreadsheetId=self.spreadsheet_id, body={"requests": list(requests)}
        )
        return self._execute(what, request)

    def delete_stale(self, existing: dict[str, ExistingSheet]) -> None:
        """Deletes the building sheets runs that died left behind; a failure is logged
        (another run may have deleted them first) and publishing goes on."""
        stale = stale_building_sheets(existing, self.clock())
        if not stale:
            return
        try:
            self.batch_update(
                f"delete {len(stale)} abandoned building sheet(s)",
                [{"deleteSheet": {"sheetId": sheet_id}} for sheet_id in stale],
            )
        except SheetsError as exc:
            log.warning("abandoned building sheets left in place: %s", exc)

    def replace(self, content: SheetContent) -> tuple[int, int]:
        """Write `content` to a hidden sheet of this run, then put it in place in one
        batchUpdate (`swap_requests`). Returns (the sheet's id, data rows written).
        The building sheet is deleted when anything fails half-way."""
        building = building_title(content.title, self.clock(), self.run_id)
        add = {
            "addSheet": {
                "properties": {
                    "title": building,
                    "hidden": True,
                    "gridProperties": {"rowCount": MIN_ROWS, "columnCount": content.column_count},
                }
            }
        }
        replies = self.batch_update(f"add sheet {building!r}", [add]).get("replies", [])
        building_id = next(
            r["addSheet"]["properties"]["sheetId"] for r in replies if "addSheet" in r
        )
        try:
            rows = self._append(content, building_id, building)
            target = self.existing().get(content.title)
            swap = swap_requests(content, building_id, rows, target)
            self.batch_update(f"swap {content.title!r} in", swap)
        except SheetsError:
            self._drop(building_id)
            raise
        return (building_id if target is None else target.sheet_id), max(rows - 1, 0)

    def _append(self, content: SheetContent, sheet_id: int, title: str) -> int:
        rows = 0
        for chunk in content.row_chunks(self.chunk_rows):
            append = {
                "appendCells": {
                    "sheetId": sheet_id,
                    "rows": [{"values": row} for row in chunk],
                    "fields": "userEnteredValue,userEnteredFormat.textFormat.link",
                }
            }
            self.batch_update(f"append {len(chunk)} rows to {title!r}", [append])
            rows += len(chunk)
        return rows

    def _drop(self, sheet_id: int) -> None:
        try:
            self.batch_update("delete the building sheet", [{"deleteSheet": {"sheetId": sheet_id}}])
        except SheetsError as exc:
            log.warning("building sheet %d left in place: %s", sheet_id, exc)


def swap_requests(
    content: SheetContent, building_id: int, rows: int, target: ExistingSheet | None
) -> list[Request]:
    """One batchUpdate (applied whole or not at all) that puts the built sheet in place.

    A first publish renames and shows the building sheet. Later ones keep the existing
    sheet, so its id (the `#gid=` of links) and position never change: its old rules go,
    it is resized to the report (header + at least one row, so the header can stay
    frozen), the building sheet is pasted over it (`copyPaste` PASTE_NORMAL: values and
    cell formats, links included), the filter and the rules are applied again and the
    building sheet is deleted."""
    if target is None:
        properties = {
            "sheetId": building_id,
            "title": content.title,
            "hidden": False,
            "gridProperties": {"frozenRowCount": 1},
        }
        fields = "title,hidden,gridProperties.frozenRowCount"
        rename = {"updateSheetProperties": {"properties": properties, "fields": fields}}
        return [rename, *content.formatting(building_id, rows)]
    height, width = max(rows, MIN_ROWS), content.column_count
    grid = {"rowCount": height, "columnCount": width, "frozenRowCount": 1}
    requests: list[Request] = [
        {"deleteConditionalFormatRule": {"sheetId": target.sheet_id, "index": 0}}
        for _ in range(target.conditional_formats)
    ]
    requests += [
        {
            "updateSheetProperties": {
                "properties": {"sheetId": target.sheet_id, "gridProperties": grid},
                "fields": "gridProperties.rowCount,gridProperties.columnCount,"
                "gridProperties.frozenRowCount",
            }
        },
        {
            "copyPaste": {
                "source": grid_range(building_id, (0, height), (0, width)),
                "destination": grid_range(target.sheet_id, (0, height), (0, width)),
                "pasteType": "PASTE_NORMAL",
                "pasteOrientation": "NORMAL",
            }
        },
        *content.formatting(target.sheet_id, rows),
        {"deleteSheet": {"sheetId": building_id}},
    ]
    return requests


@dataclass(frozen=True)
class Published:
    """One sheet written: its title, id, URL and data rows."""

    title: str
    sheet_id: int
    url: str
    rows: int


class PublishError(SheetsError):
    """Some sheets could not be published; the others were. `published` lists those."""

    def __init__(self, failed: dict[str, str], published: list[Published]) -> None:
        listed = "; ".join(f"{title!r}: {reason}" for title, reason in failed.items())
        super().__init__(f"{len(failed)} sheet(s) not published: {listed}")
        self.failed = failed
        self.published = published


def publish(publisher: SheetsPublisher, contents: Sequence[SheetContent]) -> list[Published]:
    """Replace each sheet of `contents`, in order. A sheet that fails is logged and the
    others are still published; then `PublishError` names the ones that failed."""
    existing = publisher.existing()
    publisher.delete_stale(existing)
    done: list[Published] = []
    failed: dict[str, str] = {}
    for content in contents:
        try:
            sheet_id, rows = publisher.replace(content)
        except SheetsError as exc:
            log.error("sheet %r not published: %s", content.title, exc)
            failed[content.title] = str(exc)
            continue
        url = spreadsheet_url(publisher.spreadsheet_id, sheet_id)
        log.info("sheet %r: %d rows written", content.title, rows)
        done.append(Published(content.title, sheet_id, url, rows))
    if failed:
        raise PublishError(failed, done)
    return done
