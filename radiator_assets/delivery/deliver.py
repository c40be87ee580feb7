"""Delivering the reports: which sheets, which Telegram calls, and the dry-run plans.

Shared by the Dagster asset and sensors and by `radiator deliver`, so the CLI's dry run
prints exactly what the automation would send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from radiator_assets.delivery.retry import OutOfTime, RetryableError
from radiator_assets.delivery.sheets import (
    PivotSheet,
    ReportSheet,
    SheetContent,
    report_table_name,
    summary_by_team,
)
from radiator_assets.delivery.sheets_api import swap_requests
from radiator_assets.delivery.telegram import ChatId, TelegramClient, TelegramError
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.storage.report_models import REPORT_TABLES

log = logging.getLogger(__name__)

DEFAULT_SHEETS_REPORTS = "ttm_details,ttm_summary,aging_wip,testing_returns"


def selected_tables(reports: str) -> list[str]:
    """`ttm_details, aging_wip` -> report table names; a clear error for an unknown one."""
    names = [report_table_name(n) for n in reports.split(",") if n.strip()]
    unknown = [n for n in names if n not in REPORT_TABLES]
    if unknown:
        known = ", ".join(sorted(t.removeprefix("report_") for t in REPORT_TABLES))
        raise ValueError(f"unknown report(s) {', '.join(unknown)}; known: {known}")
    return names


def sheet_contents(
    engine: Engine, config: MetricsConfig, reports: str, tracker_web_url: str
) -> list[SheetContent]:
    """One sheet per selected report, then the TTM/TTD pivots."""
    contents: list[SheetContent] = [
        ReportSheet(engine, REPORT_TABLES[name], config.thresholds, tracker_web_url)
        for name in selected_tables(reports)
    ]
    contents.append(PivotSheet.of(summary_by_team(engine), config))
    return contents


def _request_kinds(requests: Iterable[dict]) -> str:
    counts: dict[str, int] = {}
    for request in requests:
        kind = next(iter(request))
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in counts.items())


def sheets_plan(spreadsheet_id: str, contents: Sequence[SheetContent]) -> list[str]:
    """What publishing would send, sheet by sheet (counts rows; sends nothing)."""
    lines = [f"spreadsheet {spreadsheet_id}:"]
    for content in contents:
        rows = content.rows_to_write()
        swap = swap_requests(content, 0, rows, None)
        lines.append(
            f"  sheet {content.title!r}: {rows} rows (header included) x "
            f"{content.column_count} columns, then {_request_kinds(swap)}"
        )
    return lines


@dataclass(frozen=True)
class Attachments:
    """Pictures (name -> PNG) and the CSV sent after the summary."""

    pictures: dict[str, Path]
    csv: Path | None


Step = tuple[str, Callable[[TelegramClient, ChatId], object]]


def report_steps(text: str, attachments: Attachments) -> list[Step]:
    """The calls one chat gets, in order: the summary, each picture, the CSV."""
    steps: list[Step] = [("sendMessage", lambda client, chat: client.send_message(chat, text))]
    for name, path in attachments.pictures.items():
        steps.append(
            (
                f"sendPhoto {name}",
                lambda client, chat, path=path, name=name: client.send_photo(
                    chat, path, caption=name
                ),
            )
        )
    csv = attachments.csv
    if csv is not None:
        steps.append(
            (
                f"sendDocument {csv.name}",
                lambda client, chat: client.send_document(chat, csv, caption=csv.name),
            )
        )
    return steps


def send_report(
    client: TelegramClient, chat_ids: Sequence[ChatId], text: str, attachments: Attachments
) -> int:
    """The summary, each picture and the CSV to each chat; returns the calls made. The
    first failure goes up (the CLI's way: a person is watching)."""
    steps = report_steps(text, attachments)
    for chat_id in chat_ids:
        for _, step in steps:
            step(client, chat_id)
    return len(steps) * len(chat_ids)


@dataclass
class ChatDelivery:
    """How far one report got in one chat: `sent` calls of its steps; `not_before` (epoch
    seconds) a 429 asked to wait for; `skipped` why the chat refused it for good."""

    sent: int = 0
    not_before: float | None = None
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatDelivery:
        return cls(int(data.get("sent", 0)), data.get("not_before"), data.get("skipped"))

    def finished(self, steps: int) -> bool:
        return self.skipped is not None or self.sent >= steps


#: how long a chat waits after a refusal that named no wait (5xx, a timeout)
DEFER_SECONDS = 60.0


def deliver_to_chats(
    client: TelegramClient,
    chat_ids: Sequence[ChatId],
    steps: Sequence[Step],
    progress: dict[str, ChatDelivery],
    now: Callable[[], float],
) -> None:
    """Sends each chat the steps it has not had, recording them in `progress` (keyed by
    the chat as text) as they go, so a later tick sends none twice.

    A chat that refuses for good (403, 400, 413) is logged and skipped for this report; a
    429 or an outage defers that chat (`not_before`) and the others go on; when the
    tick's deadline passes, the rest waits for the next tick. A refusal of the token
    (401, 404) concerns every chat: it goes up."""
    for chat_id in chat_ids:
        state = progress.setdefault(str(chat_id), ChatDelivery())
        if state.finished(len(steps)) or (state.not_before or 0) > now():
            continue
        state.not_before = None
        try:
            for _, step in steps[state.sent :]:
                step(client, chat_id)
                state.sent += 1
        except OutOfTime:
            log.warning("Telegram: the tick's time is up; chat %s gets the rest later", chat_id)
            return
        except RetryableError as exc:
            wait = exc.retry_after if exc.retry_after is not None else DEFER_SECONDS
            state.not_before = now() + wait
            log.warning("Telegram chat %s deferred by %.0f s: %s", chat_id, wait, exc.reason)
        except TelegramError as exc:
            if not exc.for_good:
                raise
            state.skipped = str(exc)
            log.warning("Telegram chat %s skipped for this report: %s", chat_id, exc)


def telegram_plan(chat_ids: Sequence[ChatId], text: str, attachments: Attachments) -> list[str]:
    """What `send_report` would send (sends nothing)."""
    if not chat_ids:
        return [
            "no chats configured (TELEGRAM_CHAT_IDS): nothing would be sent",
            *text.splitlines(),
        ]
    lines = []
    for chat_id in chat_ids:
        lines.append(f"chat {chat_id}: sendMessage")
        lines += ["  " + line for line in text.splitlines()]
        lines += [
            f"chat {chat_id}: sendPhoto {name} ({path.name})"
            for name, path in attachments.pictures.items()
        ]
        if attachments.csv is not None:
            lines.append(f"chat {chat_id}: sendDocument {attachments.csv.name}")
    return lines
