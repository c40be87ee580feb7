"""Telegram delivery against the loopback Bot API fake: the exact calls for a fixture
change, 429 retries, the summary sensor's cursor, commands from allowed chats only, and
the CLI's dry run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import Engine

from radiator_assets.automation.delivery_sensors import (
    telegram_commands_sensor,
    telegram_reports_sensor,
)
from radiator_assets.delivery.command import run as deliver
from radiator_assets.delivery.deliver import Attachments, send_report
from radiator_assets.delivery.notification import (
    Snapshot,
    report_change,
    summary_text,
    write_details_csv,
)
from radiator_assets.delivery.retry import RetryPolicy
from radiator_assets.delivery.telegram import TelegramClient
from radiator_assets.resources import TelegramResource, TrackerResource, WarehouseResource
from radiator_assets_tests.delivery.conftest import BOT_TOKEN
from radiator_assets_tests.delivery.fakes import Answer, FakeSheets, FakeTelegram, photo_bytes
from radiator_assets_tests.reports import fixture_ten

PREVIOUS = Snapshot(
    as_of="2025-03-01T00:00:00+00:00",
    over=["CPO-1:devlt", "CPO-2:ttm"],
    ttm_p85={"Team Alpha": 20.0, "Team Gamma": 40.0},
    period="Q1 2025",
)


def client(fake: FakeTelegram, sleeps: list[float]) -> TelegramClient:
    return TelegramClient(BOT_TOKEN, fake.url, policy=RetryPolicy(attempts=3), sleep=sleeps.append)


def test_the_change_since_the_previous_report(ten: Engine) -> None:
    change = report_change(ten, fixture_ten.config(), fixture_ten.AS_OF, PREVIOUS)

    # finished in (03-01, 04-01]: CPO-3 on 03-10 (TTM 37); CPO-4 finished 02-20, before
    assert change.finished == [("CPO-3", "Team Alpha", 37)]
    # thresholds ttm 30, ttd 8, tail 6, devlt 15; CPO-1's DevLT 10 is not over
    assert [i.key for i in change.new_over] == [
        "CPO-3:devlt",
        "CPO-3:tail",
        "CPO-3:ttd",
        "CPO-3:ttm",
        "CPO-4:devlt",
        "CPO-4:tail",
        "CPO-4:ttd",
        "CPO-4:ttm",
        "CPO-5:tail",
        "CPO-5:ttm",
        "CPO-7:devlt",  # the open in-development stay: 17 days at as_of
    ]


def test_the_exact_bot_api_calls_for_a_change(
    ten: Engine, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    change = report_change(ten, fixture_ten.config(), fixture_ten.AS_OF, PREVIOUS)
    text = summary_text(change)
    picture = tmp_path / "ttm_heatmap.png"
    picture.write_bytes(photo_bytes())
    csv = write_details_csv(ten, tmp_path)
    sleeps: list[float] = []

    calls = send_report(
        client(fake_telegram, sleeps), [111], text, Attachments({"heatmap": picture}, csv)
    )

    assert calls == 3
    message, photo, document = fake_telegram.calls()
    assert (message.method, message.fields) == ("sendMessage", {"chat_id": "111", "text": text})
    assert (photo.method, photo.fields) == ("sendPhoto", {"chat_id": "111", "caption": "heatmap"})
    assert photo.files == {"photo": ("ttm_heatmap.png", photo_bytes())}
    assert (document.method, document.fields) == (
        "sendDocument",
        {"chat_id": "111", "caption": "ttm_details.csv"},
    )
    name, body = document.files["document"]
    assert name == "ttm_details.csv"
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Ключ задачи,Название,Автор")
    assert [line.split(",")[0] for line in lines[1:]] == [
        "CPO-1",
        "CPO-2",
        "CPO-3",
        "CPO-4",
        "CPO-5",
        "CPO-7",
    ]
    assert all(r.path.startswith(f"/bot{BOT_TOKEN}/") for r in fake_telegram.requests)
    assert sleeps == []


def test_summary_text(ten: Engine) -> None:
    change = report_change(ten, fixture_ten.config(), fixture_ten.AS_OF, PREVIOUS)
    text = summary_text(change)
    lines = text.splitlines()
    assert lines[:3] == [
        "Отчёты обновлены: на 2025-04-01 00:00 UTC",
        "Завершено задач с прошлого отчёта: 1",
        "• CPO-3 (Team Alpha), TTM 37",
    ]
    assert lines[3] == "Новые выше порога: 11"
    assert lines[4] == "• CPO-3: DevLT 17 > 15"
    assert lines[-3:] == [
        "TTM p85 по командам (Q1 2025):",
        f"• Team Alpha: {change.ttm_p85[0].value:.0f} ↑ (было 20)",
        "• Team Gamma: 38 ↓ (было 40)",
    ]


def test_a_429_is_retried_after_telegrams_retry_after(fake_telegram: FakeTelegram) -> None:
    fake_telegram.refusals.append(
        Answer(
            429,
            {"ok": False, "error_code": 429, "parameters": {"retry_after": 3}},
        )
    )
    sleeps: list[float] = []

    client(fake_telegram, sleeps).send_message(111, "hello")

    assert sleeps == [3]
    assert [(c.method, c.fields["text"]) for c in fake_telegram.calls()] == [
        ("sendMessage", "hello"),
        ("sendMessage", "hello"),
    ]


def _update(update_id: int, chat_id: int, text: str) -> dict:
    return {"update_id": update_id, "message": {"chat": {"id": chat_id}, "text": text}}


def test_commands_from_allowed_chats_only(
    delivery_env: None, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_telegram.updates = [
        _update(41, 999, "/sync"),  # not allowed: ignored
        _update(42, 111, "/sync@radiator_bot"),
        _update(43, 999, "/report"),
        _update(44, -100222, "hello"),
    ]
    context = dg.build_sensor_context(
        cursor="41",
        resources={"telegram": TelegramResource()},
        instance=dg.DagsterInstance.ephemeral(),
    )

    result = telegram_commands_sensor(context)

    assert [(r.job_name, r.run_key) for r in result.run_requests] == [
        ("tracker_sync", "telegram:42")
    ]
    assert result.run_requests[0].tags["radiator/requested_by"] == "telegram:111"
    assert result.cursor == "45"
    calls = fake_telegram.calls()
    assert [(c.method, c.fields.get("chat_id"), c.fields.get("offset")) for c in calls] == [
        ("getUpdates", None, "41"),
        ("sendMessage", "111", None),
    ]


def test_an_unauthorised_chat_starts_nothing(
    delivery_env: None, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.updates = [_update(7, 999, "/sync"), _update(8, 999, "/status")]
    context = dg.build_sensor_context(
        resources={"telegram": TelegramResource()}, instance=dg.DagsterInstance.ephemeral()
    )

    result = telegram_commands_sensor(context)

    assert result.run_requests == []
    assert result.cursor == "9"
    assert [c.method for c in fake_telegram.calls()] == ["getUpdates"]


def _report_resources(engine: Engine) -> dict:
    return {
        "warehouse": WarehouseResource(
            database_url=engine.url.render_as_string(hide_password=False), auto_migrate=False
        ),
        "tracker": TrackerResource(),
        "telegram": TelegramResource(),
    }


def test_the_summary_sensor_sends_each_report_once_and_retries_a_failure(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "report_ttm_details", metadata={"as_of": "2025-04-01T00:00:00+00:00"}
        )
    )
    fake_telegram.refusals.extend([Answer(500, {"ok": False})] * 3)
    context = dg.build_sensor_context(instance=instance, resources=_report_resources(ten))

    failed = telegram_reports_sensor(context)

    assert isinstance(failed, dg.SkipReason)
    assert "the next tick sends again" in failed.skip_message
    assert [c.method for c in fake_telegram.calls()] == ["sendMessage"] * 3

    context = dg.build_sensor_context(instance=instance, resources=_report_resources(ten))
    sent = telegram_reports_sensor(context)

    methods = [c.method for c in fake_telegram.calls()[3:]]
    # two chats: the summary and the details CSV each (no picture was recorded)
    assert methods == ["sendMessage", "sendDocument"] * 2
    text = fake_telegram.calls()[3].fields["text"]
    assert text.splitlines()[:2] == [
        "Отчёты обновлены: на 2025-04-01 00:00 UTC",
        "Завершено задач с прошлого отчёта: 0",
    ]
    cursor = json.loads(sent.cursor)
    assert cursor["snapshot"]["as_of"] == "2025-04-01T00:00:00+00:00"

    again = telegram_reports_sensor(
        dg.build_sensor_context(
            instance=instance, cursor=sent.cursor, resources=_report_resources(ten)
        )
    )
    assert isinstance(again, dg.SkipReason)
    assert len(fake_telegram.calls()) == 7


def test_unconfigured_telegram_is_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_CHAT_IDS", raising=False)
    context = dg.build_sensor_context(resources={"telegram": TelegramResource()})
    result = telegram_commands_sensor(context)
    assert result.skip_message == (
        "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_IDS not set: Telegram delivery is off"
    )


@pytest.mark.parametrize("target", ["sheets", "telegram"])
def test_dry_run_prints_the_plan_and_sends_nothing(
    ten: Engine,
    delivery_env: None,
    fake_telegram: FakeTelegram,
    fake_sheets: FakeSheets,
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "ttm_heatmap.png").write_bytes(photo_bytes())
    args = argparse.Namespace(target=target, dry_run=True, as_of="2025-04-01T00:00:00+00:00")

    assert deliver(args, ten, fixture_ten.config(), tmp_path) == 0

    out = capsys.readouterr().out.splitlines()
    assert fake_telegram.requests == [] and fake_sheets.requests == []
    if target == "sheets":
        assert out[:3] == [
            "dry run, nothing sent:",
            "spreadsheet sheet-abc:",
            "  sheet 'ttm_details': 7 rows (header included) x 25 columns, then "
            "updateSheetProperties, repeatCell x4, setBasicFilter, addConditionalFormatRule x4",
        ]
        assert out[3].startswith("  sheet 'ttm_pivots': 48 rows")
    else:
        assert out[:3] == [
            "dry run, nothing sent:",
            "chat 111: sendMessage",
            "  Отчёты обновлены: на 2025-04-01 00:00 UTC",
        ]
        assert "chat 111: sendPhoto ttm_heatmap (ttm_heatmap.png)" in out
        assert out[-1] == "chat -100222: sendDocument ttm_details.csv"
