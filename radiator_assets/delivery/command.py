"""`radiator deliver sheets|telegram [--dry-run]`: deliver the current reports by hand.

The same sheets and messages the Dagster asset and sensor send. `--dry-run` prints the
plan (sheets, rows, formatting requests; Bot API calls and the message) and sends
nothing: it needs neither credentials nor a token. Without a previous snapshot (the
sensor keeps it in its cursor), the Telegram summary counts the week before `--as-of`.
Telegram first draws the pictures from the current report tables
(`reports.drawing.draw_report_pictures`, the `report_pictures` asset's function; kept
when unchanged), so it never sends pictures older than the tables, dry run included.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from radiator_assets.delivery.deliver import (
    Attachments,
    send_report,
    sheet_contents,
    sheets_plan,
    telegram_plan,
)
from radiator_assets.delivery.notification import report_change, summary_text, write_details_csv
from radiator_assets.delivery.sheets_api import Published, PublishError, publish
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.drawing import draw_report_pictures, tables_as_of
from radiator_assets.resources import GoogleSheetsResource, TelegramResource
from radiator_assets.settings import DeliverySettings


def deliver_sheets(engine: Engine, config: MetricsConfig, dry_run: bool) -> int:
    settings = DeliverySettings()
    contents = sheet_contents(engine, config, settings.sheets_reports, settings.tracker_web_url)
    if dry_run:
        spreadsheet = settings.sheets_spreadsheet_id or "(GOOGLE_SHEETS_SPREADSHEET_ID not set)"
        print("\n".join(["dry run, nothing sent:", *sheets_plan(spreadsheet, contents)]))
        return 0
    reason = settings.sheets_off()
    if reason is not None:
        print(f"radiator deliver: {reason}", file=sys.stderr)
        return 2
    try:
        sheets = publish(GoogleSheetsResource().publisher(), contents)
    except PublishError as exc:
        _print_published(exc.published)
        raise
    _print_published(sheets)
    return 0


def _print_published(sheets: Sequence[Published]) -> None:
    for sheet in sheets:
        print(f"{sheet.title}: {sheet.rows} rows, {sheet.url}")


def deliver_telegram(
    engine: Engine, config: MetricsConfig, as_of: datetime, pictures_dir: Path, dry_run: bool
) -> int:
    telegram = TelegramResource()
    settings = telegram.settings()
    text = summary_text(report_change(engine, config, as_of, None))
    inputs = ReportInputs.of(config, tables_as_of(engine) or as_of)
    pictures = {p.name: p.path for p in draw_report_pictures(engine, inputs, pictures_dir)}
    with tempfile.TemporaryDirectory(prefix="radiator-deliver-") as tmp:
        attachments = Attachments(pictures, write_details_csv(engine, Path(tmp)))
        chats = telegram.chats()
        if dry_run:
            lines = telegram_plan(chats, text, attachments)
            print("\n".join(["dry run, nothing sent:", *lines]))
            return 0
        reason = settings.telegram_off()
        if reason is not None:
            print(f"radiator deliver: {reason}", file=sys.stderr)
            return 2
        calls = send_report(telegram.client(), chats, text, attachments)
    print(f"sent to {len(chats)} chat(s): {calls} Bot API calls")
    return 0


def run(args: argparse.Namespace, engine: Engine, config: MetricsConfig, pictures: Path) -> int:
    if args.target == "sheets":
        return deliver_sheets(engine, config, args.dry_run)
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(UTC)
    as_of = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of
    return deliver_telegram(engine, config, as_of, pictures, args.dry_run)
