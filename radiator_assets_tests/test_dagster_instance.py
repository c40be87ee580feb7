"""The production dagster.yaml gives a working instance on PostgreSQL through psycopg2."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import URL

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def dagster_home(tmp_path: Path, empty_database_url: URL, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(PROJECT / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_PG_URL", empty_database_url.render_as_string(hide_password=False))
    return tmp_path


def test_the_production_instance_stores_runs_in_postgres(dagster_home: Path) -> None:
    @dg.asset
    def probe() -> int:
        return 1

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize([probe], instance=instance)
        assert result.success
        assert [r.run_id for r in instance.get_runs()] == [result.run_id]


def test_the_production_instance_limits_the_sync_pool_to_one(dagster_home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.pool_config.pool_granularity.value == "op"
