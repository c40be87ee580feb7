"""Dagster resources: the warehouse and Tracker, validated by `Settings`.

Each resource's fields are optional overrides of one `Settings` variable each
(`WAREHOUSE_ENV`, `TRACKER_ENV` name them). The code location
(`radiator_assets/definitions.py`) sets a field to `dg.EnvVar(NAME)` when that
variable is set: Dagster resolves it in the step's own process, and its UI and
run storage show only the variable's name, never the database URL or the
token. A field left None falls back to the environment (and `.env`) through
`Settings`, which stays the one place that validates and defaults the
configuration; tests pass plain values instead.

State that is costly to make (the engine, the settings, the metrics
configuration) is made on first use and kept in pydantic private attributes:
Dagster initialises a fresh copy of each resource for every run (per process),
so nothing crosses runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy.engine import Engine

from radiator_assets.delivery.sheets_api import SheetsPublisher, sheets_service
from radiator_assets.delivery.telegram import TelegramClient, parse_chat_ids
from radiator_assets.metrics.config import (
    CustomFields,
    MetricsConfig,
    load_configured_metrics_config,
)
from radiator_assets.settings import DeliverySettings, Settings
from radiator_assets.storage.engine import get_engine
from radiator_assets.storage.migrations import ensure_migrated
from radiator_assets.tracker.client import TrackerClient

log = logging.getLogger(__name__)


def _alias(settings_field: str) -> str:
    alias = Settings.model_fields[settings_field].alias
    assert alias is not None, settings_field
    return alias


#: resource field -> the environment variable (`Settings` alias) it overrides
WAREHOUSE_ENV: dict[str, str] = {"database_url": _alias("database_url")}
TRACKER_ENV: dict[str, str] = {
    "api_url": _alias("tracker_api_url"),
    "api_version": _alias("tracker_api_version"),
    "token": _alias("tracker_token"),
    "auth_scheme": _alias("tracker_auth_scheme"),
    "org_id": _alias("tracker_org_id"),
    "cloud_org_id": _alias("tracker_cloud_org_id"),
    "query": _alias("tracker_query"),
    "issue_fields": _alias("tracker_fields"),
}


def settings_with(resource: dg.ConfigurableResource, env: dict[str, str]) -> Settings:
    """`Settings` from the environment, with the resource's non-None fields winning
    (pydantic-settings gives keyword arguments priority over the environment); a
    bad value is reported without its input, as for the environment."""
    overrides = {
        name: value
        for field, name in env.items()
        if (value := getattr(resource, field)) is not None
    }
    return Settings(**overrides)


_warned_missing: set[Path] = set()


def load_configured_metrics(settings: Settings) -> MetricsConfig:
    """The metrics configuration file, or the bundled example (with a warning) when absent."""
    path = settings.metrics_config_path
    if not path.exists() and path not in _warned_missing:
        _warned_missing.add(path)
        log.warning(
            "no metrics configuration at %s (RADIATOR_CONFIG); using the bundled example",
            settings.metrics_config_path,
        )
    return load_configured_metrics_config(settings, allow_default=True)


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL warehouse: `database_url` (`RADIATOR_DATABASE_URL`), or the
    embedded server under `RADIATOR_HOME` when neither is set."""

    database_url: str | None = None
    auto_migrate: bool = True

    _engine: Engine | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        return settings_with(self, WAREHOUSE_ENV)

    def engine(self) -> Engine:
        """The process-wide engine of this warehouse, migrated on first use."""
        if self._engine is None:
            engine = get_engine(self.settings())
            if self.auto_migrate and ensure_migrated(engine):
                log.info("warehouse migrated to the newest revision")
            self._engine = engine
        return self._engine


class TrackerResource(dg.ConfigurableResource):
    """Yandex Tracker: each field overrides its `TRACKER_*` variable; the rest of
    the settings (rate, timeouts, workers, the metrics configuration) come from the
    environment."""

    api_url: str | None = None
    api_version: str | None = None
    token: str | None = None
    auth_scheme: str | None = None
    org_id: str | None = None
    cloud_org_id: str | None = None
    query: str | None = None
    issue_fields: str | None = None

    _settings: Settings | None = PrivateAttr(default=None)
    _metrics: MetricsConfig | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        """The validated settings of this run: the fields over the environment."""
        if self._settings is None:
            self._settings = settings_with(self, TRACKER_ENV)
        return self._settings

    def client(self, **overrides: Any) -> TrackerClient:
        """A client of these settings; `overrides` win (the sensor's shorter budget)."""
        return TrackerClient.from_settings(self.settings(), **overrides)

    def metrics_config(self) -> MetricsConfig:
        if self._metrics is None:
            self._metrics = load_configured_metrics(self.settings())
        return self._metrics

    def custom_fields(self) -> CustomFields:
        return self.metrics_config().custom_fields


# --------------------------------------------------------------------------- delivery


def _delivery_alias(settings_field: str) -> str:
    alias = DeliverySettings.model_fields[settings_field].alias
    assert alias is not None, settings_field
    return alias


SHEETS_ENV: dict[str, str] = {
    "spreadsheet_id": _delivery_alias("sheets_spreadsheet_id"),
    "credentials_path": _delivery_alias("sheets_credentials_path"),
    "reports": _delivery_alias("sheets_reports"),
    "api_url": _delivery_alias("sheets_api_url"),
    "tracker_web_url": _delivery_alias("tracker_web_url"),
}
TELEGRAM_ENV: dict[str, str] = {
    "token": _delivery_alias("telegram_token"),
    "chat_ids": _delivery_alias("telegram_chat_ids"),
    "api_url": _delivery_alias("telegram_api_url"),
}


def delivery_settings_with(
    resource: dg.ConfigurableResource, env: dict[str, str]
) -> DeliverySettings:
    """`DeliverySettings` from the environment, the resource's non-None fields winning."""
    overrides = {
        name: value
        for field, name in env.items()
        if (value := getattr(resource, field)) is not None
    }
    return DeliverySettings(**overrides)


class GoogleSheetsResource(dg.ConfigurableResource):
    """The spreadsheet the reports are published to; each field overrides its
    `GOOGLE_SHEETS_*` variable. Off (see `DeliverySettings.sheets_off`) until the
    spreadsheet id and the service account's key file are given."""

    spreadsheet_id: str | None = None
    credentials_path: str | None = None
    reports: str | None = None
    api_url: str | None = None
    tracker_web_url: str | None = None

    def settings(self) -> DeliverySettings:
        return delivery_settings_with(self, SHEETS_ENV)

    def publisher(self, **options: Any) -> SheetsPublisher:
        """A publisher of the configured spreadsheet (`options`: chunk_rows, sleep, ...)."""
        settings = self.settings()
        reason = settings.sheets_off()
        if reason is not None:
            raise RuntimeError(reason)
        assert settings.sheets_credentials_path is not None and settings.sheets_spreadsheet_id
        service = sheets_service(
            Path(settings.sheets_credentials_path.get_secret_value()), settings.sheets_api_url
        )
        return SheetsPublisher(service, settings.sheets_spreadsheet_id, **options)


class TelegramResource(dg.ConfigurableResource):
    """The Telegram bot and its chats; each field overrides its `TELEGRAM_*` variable.
    Off until the token and at least one chat id are given."""

    token: str | None = None
    chat_ids: str | None = None
    api_url: str | None = None

    def settings(self) -> DeliverySettings:
        return delivery_settings_with(self, TELEGRAM_ENV)

    def chats(self) -> tuple[int, ...]:
        return parse_chat_ids(self.settings().telegram_chat_ids)

    def client(self, **options: Any) -> TelegramClient:
        settings = self.settings()
        reason = settings.telegram_off()
        if reason is not None:
            raise RuntimeError(reason)
        assert settings.telegram_token is not None
        return TelegramClient(
            settings.telegram_token.get_secret_value(), settings.telegram_api_url, **options
        )
