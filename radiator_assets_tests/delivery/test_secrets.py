"""Secrets of delivery stay out of the console, radiator.log and Dagster's event log: the
bot token (its URL holds it), the Tracker token and the service account's key path."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import Engine

from radiator_assets.assets.delivery import google_sheets_reports
from radiator_assets.log_redaction import RedactSecrets
from radiator_assets.resources import GoogleSheetsResource, TrackerResource, WarehouseResource
from radiator_assets.settings import get_settings
from radiator_assets_tests.cli_env import point_cli_at, run_cli
from radiator_assets_tests.delivery.conftest import BOT_TOKEN, SPREADSHEET_ID
from radiator_assets_tests.delivery.fakes import FakeSheets, FakeTelegram


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_filter_redacts_message_arguments_and_traceback() -> None:
    redact = RedactSecrets([BOT_TOKEN, "/srv/keys/sa.json", "abc"])
    try:
        raise RuntimeError(f"POST /bot{BOT_TOKEN}/sendMessage failed")
    except RuntimeError as exc:
        record = logging.LogRecord(
            "urllib3.connectionpool",
            logging.DEBUG,
            __file__,
            1,
            '%s "POST /bot%s/sendMessage HTTP/1.1" 200 (key %s)',
            ("http://127.0.0.1:1", BOT_TOKEN, "/srv/keys/sa.json"),
            (type(exc), exc, exc.__traceback__),
        )

    assert redact.filter(record) is True

    text = logging.Formatter("%(message)s").format(record)
    assert BOT_TOKEN not in text and "/srv/keys/sa.json" not in text
    assert text.splitlines()[0] == (
        'http://127.0.0.1:1 "POST /bot***/sendMessage HTTP/1.1" 200 (key ***)'
    )
    assert text.splitlines()[-1] == "RuntimeError: POST /bot***/sendMessage failed"
    assert redact.secrets == [BOT_TOKEN, "/srv/keys/sa.json"]  # "abc" is too short to hide


def test_verbose_deliver_telegram_shows_no_token(
    ten: Engine,
    fake_telegram: FakeTelegram,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = point_cli_at(monkeypatch, tmp_path, ten.url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("TELEGRAM_CHAT_IDS", "111")
    monkeypatch.setenv("TELEGRAM_API_URL", fake_telegram.url)

    ran = run_cli(capsys, "-v", "deliver", "telegram", "--as-of", "2025-04-01T00:00:00+00:00")

    assert ran.code == 0, ran.err
    # `deliver telegram` draws the seven pictures first and sends them with the report
    assert ran.out.strip().splitlines()[-1] == "sent to 1 chat(s): 9 Bot API calls"
    methods = [c.method for c in fake_telegram.calls()]
    assert methods == ["sendMessage", *["sendPhoto"] * 7, "sendDocument"]
    log_file = (home / "logs" / "radiator.log").read_text()
    token_id = BOT_TOKEN.split(":")[1]
    for text in (ran.out, ran.err, log_file):
        assert BOT_TOKEN not in text and token_id not in text


@pytest.mark.parametrize("key_file", ["missing", "garbled"])
def test_a_bad_key_file_is_named_by_its_variable_not_its_path(
    ten: Engine,
    fake_sheets: FakeSheets,
    service_account_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key_file: str,
) -> None:
    secret_dir = tmp_path / "very-secret-dir"
    secret_dir.mkdir()
    path = secret_dir / "sa-key.json"
    if key_file == "garbled":
        path.write_text(service_account_file.read_text()[:300])
    home = point_cli_at(monkeypatch, tmp_path, ten.url)
    monkeypatch.setenv("GOOGLE_SHEETS_SPREADSHEET_ID", SPREADSHEET_ID)
    monkeypatch.setenv("GOOGLE_SHEETS_CREDENTIALS_PATH", str(path))
    monkeypatch.setenv("GOOGLE_SHEETS_API_URL", f"{fake_sheets.url}/")

    ran = run_cli(capsys, "deliver", "sheets")
    verbose = run_cli(capsys, "-v", "deliver", "sheets")

    expected = {
        "missing": "radiator: error: GOOGLE_SHEETS_CREDENTIALS_PATH: the service account's key "
        "file cannot be read (FileNotFoundError); check the variable and the file",
        "garbled": "radiator: error: GOOGLE_SHEETS_CREDENTIALS_PATH: the file is not a service "
        "account's JSON key (JSONDecodeError); download a new key (IAM -> Service accounts -> "
        "Keys)",
    }[key_file]
    assert (ran.code, ran.err_lines[-1]) == (2, expected)
    assert verbose.code == 2
    log_file = (home / "logs" / "radiator.log").read_text()
    assert "SheetsCredentialsError" in log_file  # the traceback is logged, without the path
    for text in (ran.out, ran.err, verbose.out, verbose.err, log_file):
        assert "very-secret-dir" not in text
    assert fake_sheets.requests == []


def test_a_missing_key_file_stays_out_of_the_dagster_event_log(
    ten: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    resources = {
        "warehouse": WarehouseResource(
            database_url=ten.url.render_as_string(hide_password=False), auto_migrate=False
        ),
        "tracker": TrackerResource(),
        "google_sheets": GoogleSheetsResource(
            spreadsheet_id=SPREADSHEET_ID,
            credentials_path=str(tmp_path / "very-secret-dir" / "sa-key.json"),
            reports="ttm_details",
        ),
    }
    instance = dg.DagsterInstance.ephemeral()

    result = dg.materialize(
        [google_sheets_reports], resources=resources, instance=instance, raise_on_error=False
    )

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    # Dagster wraps the step's error: its cause is ours, with no context of its own
    cause = failure.event_specific_data.error.cause
    assert cause.cls_name == "SheetsCredentialsError"
    assert cause.cause is None and cause.context is None
    events = [
        str(r.dagster_event.event_specific_data if r.dagster_event else "") + r.user_message
        for r in instance.all_logs(result.run_id)
    ]
    assert any("GOOGLE_SHEETS_CREDENTIALS_PATH" in e for e in events)
    assert [e for e in events if "very-secret-dir" in e] == []
