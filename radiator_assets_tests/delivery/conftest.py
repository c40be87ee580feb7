"""Fixtures of the delivery tests: the loopback fakes, a generated service account, and
the ten hand-checked tasks with every report built (the reports tests' fixture)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from radiator_assets_tests.delivery.fakes import FakeSheets, FakeTelegram
from radiator_assets_tests.reports.conftest import module_database, ten  # noqa: F401

BOT_TOKEN = "123456:fake-bot-token"
SPREADSHEET_ID = "sheet-abc"
WEB_URL = "https://tracker.example"


@pytest.fixture
def fake_sheets() -> Iterator[FakeSheets]:
    fake = FakeSheets(
        sheets=[
            {"sheetId": 0, "title": "readme", "index": 0},
            {"sheetId": 7, "title": "ttm_details", "index": 1},
        ]
    ).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(BOT_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def service_account_file(tmp_path: Path, fake_sheets: FakeSheets) -> Path:
    """A service-account key made here (RSA via cryptography) whose token_uri is the fake."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "radiator-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "radiator@radiator-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{fake_sheets.url}/token",
            }
        )
    )
    return path


@pytest.fixture
def delivery_env(
    monkeypatch: pytest.MonkeyPatch,
    fake_sheets: FakeSheets,
    fake_telegram: FakeTelegram,
    service_account_file: Path,
) -> None:
    """Both services configured, at the fakes."""
    monkeypatch.setenv("GOOGLE_SHEETS_SPREADSHEET_ID", SPREADSHEET_ID)
    monkeypatch.setenv("GOOGLE_SHEETS_CREDENTIALS_PATH", str(service_account_file))
    monkeypatch.setenv("GOOGLE_SHEETS_API_URL", f"{fake_sheets.url}/")
    monkeypatch.setenv("GOOGLE_SHEETS_REPORTS", "ttm_details")
    monkeypatch.setenv("TRACKER_WEB_URL", WEB_URL)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("TELEGRAM_CHAT_IDS", "111, -100222")
    monkeypatch.setenv("TELEGRAM_API_URL", fake_telegram.url)
