"""Sending the sheets of `radiator_assets.delivery.sheets` through Google's API client.

`google-api-python-client` with the Sheets v4 discovery document it ships (no discovery
request), a service account from `google-auth` (its JSON's `token_uri` says where tokens
come from), and `client_options={"api_endpoint": ...}` when the API is elsewhere (the
tests' loopback fake). Each call is executed once by the library (`num_retries=0`) and
retried here, honouring `Retry-After` (`radiator_assets.delivery.retry`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radiator_assets.delivery.retry import (
    RetryableError,
    RetryPolicy,
    call_with_retry,
    parse_retry_after,
)
from radiator_assets.delivery.sheets import (
    BUILDING_SUFFIX,
    CHUNK_ROWS,
    SHEETS_SCOPE,
    Request,
    SheetContent,
)

log = logging.getLogger(__name__)


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
    sheet_id: int
    index: int


@dataclass
class SheetsPublisher:
    """Replaces sheets of one spreadsheet, one batchUpdate per step (see the module doc
    of `radiator_assets.delivery.sheets`)."""

    service: Any
    spreadsheet_id: str
    chunk_rows: int = CHUNK_ROWS
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep

    def _execute(self, what: str, request: Any) -> Any:
        from google.auth.exceptions import RefreshError
        from googleapiclient.errors import HttpError

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

        try:
            return call_with_retry(once, what, self.policy, self.sleep)
        except RetryableError as exc:
            raise SheetsError(f"{exc.reason}, still after retries") from None

    def existing(self) -> dict[str, ExistingSheet]:
        """Title -> id and position of each sheet of the spreadsheet."""
        request = self.service.spreadsheets().get(
            spreadsheetId=self.spreadsheet_id, fields="sheets.properties"
        )
        answer = self._execute("get the sheets", request)
        return {
            s["properties"]["title"]: ExistingSheet(
                s["properties"]["sheetId"], s["properties"].get("index", 0)
            )
            for s in answer.get("sheets", [])
        }

    def batch_update(self, what: str, requests: Sequence[Request]) -> dict[str, Any]:
        request = self.service.spreadsheets().batchUpdate(
            spreadsheetId=self.spreadsheet_id, body={"requests": list(requests)}
        )
        return self._execute(what, request)

    def replace(self, content: SheetContent, existing: dict[str, ExistingSheet]) -> tuple[int, int]:
        """Write `content` to a hidden sheet, then swap it for the old one in one
        batchUpdate. Returns (the new sheet's id, data rows written)."""
        title = content.title
        building = f"{title}{BUILDING_SUFFIX}"
        start: list[Request] = []
        if building in existing:  # left by a run that died half-way
            start.append({"deleteSheet": {"sheetId": existing[building].sheet_id}})
        start.append(
            {
                "addSheet": {
                    "properties": {
                        "title": building,
                        "hidden": True,
                        "gridProperties": {"rowCount": 1, "columnCount": content.column_count},
                    }
                }
            }
        )
        replies = self.batch_update(f"add sheet {building!r}", start).get("replies", [])
        sheet_id = next(r["addSheet"]["properties"]["sheetId"] for r in replies if "addSheet" in r)
        rows = 0
        for chunk in content.row_chunks(self.chunk_rows):
            append = {
                "appendCells": {
                    "sheetId": sheet_id,
                    "rows": [{"values": row} for row in chunk],
                    "fields": "userEnteredValue,userEnteredFormat.textFormat.link",
                }
            }
            self.batch_update(f"append {len(chunk)} rows to {building!r}", [append])
            rows += len(chunk)
        self.batch_update(f"swap {title!r} in", swap_requests(content, sheet_id, rows, existing))
        return sheet_id, max(rows - 1, 0)


def swap_requests(
    content: SheetContent, sheet_id: int, rows: int, existing: dict[str, ExistingSheet]
) -> list[Request]:
    """Delete the old sheet, give the new one its title, position and frozen header, show
    it, and format it: one batchUpdate, applied whole or not at all."""
    old = existing.get(content.title)
    properties: dict[str, Any] = {
        "sheetId": sheet_id,
        "title": content.title,
        "hidden": False,
        "gridProperties": {"frozenRowCount": 1},
    }
    fields = "title,hidden,gridProperties.frozenRowCount"
    requests: list[Request] = []
    if old is not None:
        requests.append({"deleteSheet": {"sheetId": old.sheet_id}})
        properties["index"] = old.index
        fields += ",index"
    requests.append({"updateSheetProperties": {"properties": properties, "fields": fields}})
    return requests + content.formatting(sheet_id, rows)


@dataclass(frozen=True)
class Published:
    """One sheet written: its title, id, URL and data rows."""

    title: str
    sheet_id: int
    url: str
    rows: int


def publish(publisher: SheetsPublisher, contents: Sequence[SheetContent]) -> list[Published]:
    """Replace each sheet of `contents`, in order."""
    existing = publisher.existing()
    done: list[Published] = []
    for content in contents:
        sheet_id, rows = publisher.replace(content, existing)
        url = spreadsheet_url(publisher.spreadsheet_id, sheet_id)
        log.info("sheet %r: %d rows written", content.title, rows)
        done.append(Published(content.title, sheet_id, url, rows))
    return done
