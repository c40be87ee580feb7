"""Fixtures for end-to-end ingestion tests: the emulator, the app pointed at it, helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from radiator_assets.assets.partitions import first_partition_key
from radiator_assets.emulator import TrackerEmulator, generate_org
from radiator_assets.metrics.config import CustomFields
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.settings import Settings, get_settings
from radiator_assets.storage.engine import create_engine
from radiator_assets.sync.changelog import ChangelogSyncResult, sync_changelogs
from radiator_assets.sync.history import HistoryBuildResult, build_history
from radiator_assets.sync.issues import IssueSyncResult, sync_issues
from radiator_assets.tracker.client import TrackerClient
from radiator_assets_tests.locked import locked

QUERY = "Queue: CPO, FULLSTACK"
FIELDS = CustomFields(team="team", product_team="prodteam")


@pytest.fixture
def tracker_env(
    app_env: URL, tracker_emulator_factory: Callable[..., TrackerEmulator], monkeypatch
) -> TrackerEmulator:
    """An emulated organisation and the application's settings pointing at it."""
    # A short span that ends yesterday: the whole organisation fits in a month or two.
    emulator = tracker_emulator_factory(
        generate_org(seed=3, n_issues=80, span_days=20, now=recent_now())
    )
    return point_app_at(emulator, monkeypatch)


def point_app_at(emulator: TrackerEmulator, monkeypatch: pytest.MonkeyPatch) -> TrackerEmulator:
    """The application's settings pointing at `emulator`."""
    for name, value in {
        "TRACKER_API_URL": emulator.base_url,
        "TRACKER_TOKEN": emulator.token,
        "TRACKER_ORG_ID": emulator.org_id,
        "TRACKER_QUERY": QUERY,
        "TRACKER_RPS": "1000",
        "TRACKER_MAX_RETRY_SECONDS": "3",
        "TRACKER_READ_TIMEOUT": "5",
        "RADIATOR_SYNC_BATCH_SIZE": "25",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TRACKER_CLOUD_ORG_ID", raising=False)
    # `run_sync` is the CLI's path: like `radiator sync`, it reads the process's settings.
    get_settings.cache_clear()
    return emulator


def resources_for(
    emulator: TrackerEmulator, database_url: URL
) -> dict[str, dg.ConfigurableResource]:
    """The Dagster resources pointed at a database and an emulator, constructed (what a
    sensor or an in-process run is given), not read from the environment."""
    return {
        "warehouse": WarehouseResource(
            database_url=database_url.render_as_string(hide_password=False)
        ),
        "tracker": TrackerResource(
            api_url=emulator.base_url, token=emulator.token, org_id=emulator.org_id, query=QUERY
        ),
    }


@pytest.fixture
def dagster_resources(
    tracker_env: TrackerEmulator, database_url: URL
) -> dict[str, dg.ConfigurableResource]:
    """`resources_for` this test's database and emulator."""
    return resources_for(tracker_env, database_url)


def record_first_sync(instance: dg.DagsterInstance) -> None:
    """The Dagster instance as a completed first sync leaves it (its first month recorded),
    for tests whose first sync ran through the sync core, not through Dagster."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization("tracker_changelog", partition=first_partition_key())
    )


def recent_now() -> datetime:
    """An emulated organisation's clock: yesterday at noon UTC, so it ends before today."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return datetime.combine(yesterday, time(12), UTC)


def history_start(emulator: TrackerEmulator) -> date:
    """A day before the emulated organisation's first issue."""
    return (emulator.org.now - timedelta(days=21)).date()


def fast_client() -> TrackerClient:
    return TrackerClient.from_settings(Settings(), backoff_base=0.001, backoff_cap=0.01)


@dataclass
class SyncReport:
    issues: IssueSyncResult
    changelog: ChangelogSyncResult
    history: HistoryBuildResult


def run_full_sync(engine: Engine, **issue_kwargs: Any) -> SyncReport:
    """Issues, changelog, history: the three assets' write paths in order."""
    with fast_client() as client:
        issues = locked(
            sync_issues,
            engine,
            client,
            base_query=QUERY,
            fields=FIELDS,
            batch_size=25,
            **issue_kwargs,
        )
        changelog = locked(sync_changelogs, engine, client)
    return SyncReport(issues, changelog, locked(build_history, engine))


def table_snapshot(engine: Engine) -> dict[str, set[tuple[Any, ...]]]:
    """Every row that matters, comparable across databases (no surrogate ids)."""
    queries = {
        "tasks": "SELECT tracker_id, key, aliases::text, task_updated_at, last_changelog_id, "
        "deleted_at IS NULL FROM tracker_tasks",
        "changelog": "SELECT c.id, t.tracker_id, c.updated_at, c.status_to "
        "FROM tracker_changelog c JOIN tracker_tasks t ON t.id = c.task_id",
        "history": "SELECT tracker_id, status, start_date, end_date FROM tracker_task_history",
    }
    with engine.connect() as conn:
        return {name: {tuple(r) for r in conn.execute(sa.text(q))} for name, q in queries.items()}


def reference_snapshot(database_factory: Callable[[], URL]) -> dict[str, set[tuple[Any, ...]]]:
    """The tables one uninterrupted full sync of the emulated organisation, as it is now,
    leaves in a fresh database."""
    engine = create_engine(database_factory())
    try:
        run_full_sync(engine)
        return table_snapshot(engine)
    finally:
        engine.dispose()


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.text(sql)))
