"""Secrets of delivery stay out of the console, radiator.log and Dagster's event log: the
bot token (its URL holds it), the Tracker token and the service account's key path."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from radiator_assets.log_redaction import RedactSecrets
from radiator_assets.settings import get_settings
from radiator_assets_tests.cli_env import point_cli_at, run_cli
from radiator_assets_tests.delivery.conftest import BOT_TOKEN
from radiator_assets_tests.delivery.fakes import FakeTelegram


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
    assert ran.out.strip().splitlines()[-1] == "sent to 1 chat(s): 2 Bot API calls"
    assert [c.method for c in fake_telegram.calls()] == ["sendMessage", "sendDocument"]
    log_file = (home / "logs" / "radiator.log").read_text()
    token_id = BOT_TOKEN.split(":")[1]
    for text in (ran.out, ran.err, log_file):
        assert BOT_TOKEN not in text and token_id not in text
