"""The one typed place where radiator_assets reads its configuration.

Everything comes from the environment (and an optional `.env` in the working
directory). Secrets are `SecretStr`, so a repr, a log line or Dagster metadata
built from a `Settings` object never shows them; validation errors never echo
their input (`hide_input_in_errors`), which holds the token and the database URL.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TRACKER_API_URL = "https://api.tracker.yandex.net"
MIN_TOKEN_LENGTH = 8


class Settings(BaseSettings):
    """Environment configuration; field aliases are the variable names users set."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # An error's input is the whole environment read (token, database URL): never show it.
        hide_input_in_errors=True,
    )

    # --- warehouse -------------------------------------------------------------
    database_url: SecretStr | None = Field(default=None, alias="RADIATOR_DATABASE_URL")
    home: Path = Field(default=Path(".radiator"), alias="RADIATOR_HOME")
    metrics_config_path: Path = Field(default=Path("radiator.yaml"), alias="RADIATOR_CONFIG")

    # --- Tracker ---------------------------------------------------------------
    tracker_api_url: str = Field(default=DEFAULT_TRACKER_API_URL, alias="TRACKER_API_URL")
    tracker_token: SecretStr | None = Field(default=None, alias="TRACKER_TOKEN")
    tracker_auth_scheme: Literal["OAuth", "Bearer"] = Field(
        default="OAuth", alias="TRACKER_AUTH_SCHEME"
    )
    tracker_org_id: str | None = Field(default=None, alias="TRACKER_ORG_ID")
    tracker_cloud_org_id: str | None = Field(default=None, alias="TRACKER_CLOUD_ORG_ID")
    tracker_api_version: Literal["v2", "v3"] = Field(default="v2", alias="TRACKER_API_VERSION")
    tracker_query: str = Field(default="Queue: CPO", alias="TRACKER_QUERY")
    # Comma-separated issue fields to request; empty means "all fields".
    tracker_fields: str = Field(default="", alias="TRACKER_FIELDS")
    tracker_workers: int = Field(default=8, ge=1, le=64, alias="TRACKER_WORKERS")
    tracker_per_scroll: int = Field(default=1000, ge=1, le=1000, alias="TRACKER_PER_SCROLL")
    tracker_requests_per_second: float = Field(default=20.0, gt=0, alias="TRACKER_RPS")
    tracker_connect_timeout: float = Field(default=5.0, gt=0, alias="TRACKER_CONNECT_TIMEOUT")
    tracker_read_timeout: float = Field(default=30.0, gt=0, alias="TRACKER_READ_TIMEOUT")
    tracker_max_retry_seconds: float = Field(default=120.0, ge=0, alias="TRACKER_MAX_RETRY_SECONDS")
    # --- sync and automation ---------------------------------------------------
    # First day of the changelog's daily partitions: the organisation's first day in Tracker.
    history_start: date = Field(default=date(2017, 1, 1), alias="RADIATOR_HISTORY_START")
    sync_overlap_minutes: int = Field(default=10, ge=0, alias="RADIATOR_SYNC_OVERLAP_MINUTES")
    sync_batch_size: int = Field(default=500, ge=1, alias="RADIATOR_SYNC_BATCH_SIZE")
    sync_lock_wait_seconds: float = Field(default=3600.0, ge=0, alias="RADIATOR_SYNC_LOCK_WAIT")
    sensor_interval_seconds: int = Field(default=300, ge=10, alias="RADIATOR_SENSOR_INTERVAL")
    freshness_max_age_hours: float = Field(
        default=26.0, gt=0, alias="RADIATOR_FRESHNESS_MAX_AGE_HOURS"
    )

    @field_validator("tracker_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            parts, host = None, None
        if parts is None or parts.scheme not in ("http", "https") or not host:
            raise ValueError(
                f"must be an http:// or https:// URL with a host, such as {DEFAULT_TRACKER_API_URL}"
            )
        if parts.username is not None or parts.password is not None:
            # It would be printed with every endpoint a message names.
            raise ValueError("must not hold a user or password: the token goes in TRACKER_TOKEN")
        return value.rstrip("/")

    @field_validator("tracker_token")
    @classmethod
    def _real_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Messages are cleaned of the token by replacing it: a token of a few characters
        # would blank those characters everywhere, and no Tracker token is that short.
        if value is None:
            return None
        # A token read from a file or a CRLF `.env` ends in a newline: it would go into
        # the Authorization header, and the HTTP library's error would print it.
        token = value.get_secret_value().strip()
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"is shorter than {MIN_TOKEN_LENGTH} characters: a Tracker OAuth or IAM token "
                "is much longer; check the variable"
            )
        if not all(c.isprintable() and not c.isspace() for c in token):
            raise ValueError(
                "holds a space or a control character: a Tracker token is one printable word; "
                "check the variable"
            )
        return SecretStr(token)

    @model_validator(mode="after")
    def _one_org_header(self) -> Settings:
        if self.tracker_org_id and self.tracker_cloud_org_id:
            raise ValueError(
                "set either TRACKER_ORG_ID or TRACKER_CLOUD_ORG_ID, not both: "
                "Tracker expects exactly one organisation header"
            )
        return self

    @property
    def field_list(self) -> list[str]:
        return [f.strip() for f in self.tracker_fields.split(",") if f.strip()]

    @property
    def pgdata_dir(self) -> Path:
        return self.home.resolve() / "pgdata"

    @property
    def reports_dir(self) -> Path:
        return self.home.resolve() / "reports"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process (the CLI, and what the definitions read when they load:
    partitions, sensor interval, freshness window); tests of those call
    `get_settings.cache_clear()` after changing the environment. The Dagster resources
    build their own (`radiator_assets/resources.py`), so tests construct them instead."""
    return Settings()


# --------------------------------------------------------------------------- delivery

#: a Telegram chat: its integer id, or a public `@username` (channels, public groups)
ChatId = int | str
_CHAT_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


def parse_chat_ids(text: str) -> tuple[ChatId, ...]:
    """`-100123, 42, @team_channel` -> (-100123, 42, "@team_channel"); a clear error for
    anything else."""
    ids: list[ChatId] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if _CHAT_USERNAME.match(part):
            ids.append(part)
            continue
        try:
            ids.append(int(part))
        except ValueError:
            raise ValueError(
                f"{part!r} is not a Telegram chat (an integer id or an @username)"
            ) from None
    return tuple(ids)


# Kept apart from `Settings` (one class per concern): Google Sheets and Telegram are off
# until their variables are set, and a bad value there must not stop a sync.


class DeliverySettings(BaseSettings):
    """Where the reports are delivered (`radiator_assets.delivery`); all optional."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    sheets_spreadsheet_id: str | None = Field(default=None, alias="GOOGLE_SHEETS_SPREADSHEET_ID")
    # the service account's JSON key: a secret file, whose path is never shown either
    sheets_credentials_path: SecretStr | None = Field(
        default=None, alias="GOOGLE_SHEETS_CREDENTIALS_PATH"
    )
    sheets_reports: str = Field(
        default="ttm_details,ttm_summary,aging_wip,testing_returns", alias="GOOGLE_SHEETS_REPORTS"
    )
    # the Sheets API's endpoint; None is Google's (tests point it at a loopback fake)
    sheets_api_url: str | None = Field(default=None, alias="GOOGLE_SHEETS_API_URL")
    tracker_web_url: str = Field(default="https://tracker.yandex.ru", alias="TRACKER_WEB_URL")
    telegram_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    # comma-separated chat ids: the summary goes to each; commands are obeyed from these only
    telegram_chat_ids: str = Field(default="", alias="TELEGRAM_CHAT_IDS")
    telegram_api_url: str = Field(default="https://api.telegram.org", alias="TELEGRAM_API_URL")
    telegram_commands: bool = Field(default=True, alias="TELEGRAM_COMMANDS")

    def sheets_off(self) -> str | None:
        """Why Google Sheets publishing is off, or None when it is configured."""
        missing = [
            name
            for name, value in (
                ("GOOGLE_SHEETS_SPREADSHEET_ID", self.sheets_spreadsheet_id),
                ("GOOGLE_SHEETS_CREDENTIALS_PATH", self.sheets_credentials_path),
            )
            if not value
        ]
        return (
            f"{' and '.join(missing)} not set: Google Sheets publishing is off" if missing else None
        )

    def telegram_off(self) -> str | None:
        """Why Telegram delivery is off, or None when it is configured (a bad chat in
        TELEGRAM_CHAT_IDS turns it off with the reason: a sensor skips, never raises)."""
        missing = [
            name
            for name, value in (
                ("TELEGRAM_BOT_TOKEN", self.telegram_token),
                ("TELEGRAM_CHAT_IDS", self.telegram_chat_ids.strip()),
            )
            if not value
        ]
        if missing:
            return f"{' and '.join(missing)} not set: Telegram delivery is off"
        try:
            parse_chat_ids(self.telegram_chat_ids)
        except ValueError as exc:
            return f"TELEGRAM_CHAT_IDS: {exc}: Telegram delivery is off"
        return None
