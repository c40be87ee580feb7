"""Dagster resources: the warehouse and Tracker, both configured from `Settings`.

Neither resource has a secret field: a URL with a password or a token would
show in the Dagster UI's run config. They read the environment through
`get_settings()` in the step's own process instead.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

import dagster as dg
from sqlalchemy.engine import Engine

from radiator_assets.metrics.config import (
    CustomFields,
    MetricsConfig,
    load_configured_metrics_config,
)
from radiator_assets.settings import Settings, get_settings
from radiator_assets.storage.engine import get_engine
from radiator_assets.storage.migrations import ensure_migrated
from radiator_assets.tracker.client import TrackerClient

log = logging.getLogger(__name__)


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
    """The PostgreSQL warehouse (`RADIATOR_DATABASE_URL`, or the embedded server)."""

    auto_migrate: bool = True

    @cached_property
    def _engine(self) -> Engine:
        engine = get_engine()
        if self.auto_migrate and ensure_migrated(engine):
            log.info("warehouse migrated to the newest revision")
        return engine

    def engine(self) -> Engine:
        return self._engine


class TrackerResource(dg.ConfigurableResource):
    """Yandex Tracker, as `TRACKER_*` environment variables describe it."""

    def settings(self) -> Settings:
        return get_settings()

    def client(self) -> TrackerClient:
        return TrackerClient.from_settings(get_settings())

    def metrics_config(self) -> MetricsConfig:
        return load_configured_metrics(get_settings())

    def custom_fields(self) -> CustomFields:
        return self.metrics_config().custom_fields
