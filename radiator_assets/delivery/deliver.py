"""Delivering the reports: which sheets, which Telegram calls, and the dry-run plans.

Shared by the Dagster asset and sensors and by `radiator deliver`, so the CLI's dry run
prints exactly what the automation would send.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from radiator_assets.delivery.sheets import (
    PivotSheet,
    ReportSheet,
    SheetContent,
    report_table_name,
    summary_by_team,
)
from radiator_assets.delivery.sheets_api import swap_requests
from radiator_assets.delivery.telegram import TelegramClient
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.storage.report_models import REPORT_TABLES

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


def send_report(
    client: TelegramClient, chat_ids: Sequence[int], text: str, attachments: Attachments
) -> int:
    """The summary, each picture and the CSV to each chat; returns the calls made."""
    calls = 0
    for chat_id in chat_ids:
        client.send_message(chat_id, text)
        calls += 1
        for name, path in attachments.pictures.items():
            client.send_photo(chat_id, path, caption=name)
            calls += 1
        if attachments.csv is not None:
            client.send_document(chat_id, attachments.csv, caption=attachments.csv.name)
            calls += 1
    return calls


def telegram_plan(chat_ids: Sequence[int], text: str, attachments: Attachments) -> list[str]:
    """What `send_report` would send (sends nothing)."""
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
