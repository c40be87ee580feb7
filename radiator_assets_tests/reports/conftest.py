"""Fixtures of the report tests: databases seeded once per module and reports built."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.activity import build_status_activity
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.drawing import draw_report_pictures
from radiator_assets.reports.product import build_product_reports
from radiator_assets.reports.returns import build_testing_returns
from radiator_assets.reports.time_in_status import build_time_in_status
from radiator_assets.storage.engine import create_engine
from radiator_assets_tests.conftest import create_database, drop_database
from radiator_assets_tests.reports import fixture_ten


def build_all(
    engine: Engine, config: MetricsConfig, as_of: datetime, pictures: Path | None = None
) -> dict[str, Any]:
    """Build every report as of `as_of`; with `pictures`, then draw them there."""
    inputs = ReportInputs.of(config, as_of)
    results: dict[str, Any] = dict(build_product_reports(engine, inputs))
    for build in (build_time_in_status, build_testing_returns, build_status_activity):
        result = build(engine, inputs)
        results[result.table] = result
    if pictures is not None:
        draw_report_pictures(engine, inputs, pictures)
    return results


@pytest.fixture(scope="module")
def module_database(pg_server_url: URL, template_database: str) -> Iterator[Callable[[], Engine]]:
    """A factory of fresh migrated databases that live as long as the test module."""
    made: list[tuple[str, Engine]] = []

    def make() -> Engine:
        name = f"radiator_r_{uuid.uuid4().hex[:12]}"
        engine = create_engine(create_database(pg_server_url, name, template=template_database))
        made.append((name, engine))
        return engine

    yield make
    for name, engine in made:
        engine.dispose()
        drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
def ten(module_database: Callable[[], Engine], tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The ten hand-checked tasks, every report built as of fixture_ten.AS_OF."""
    engine = module_database()
    fixture_ten.seed(engine)
    build_all(engine, fixture_ten.config(), fixture_ten.AS_OF, tmp_path_factory.mktemp("pics"))
    return engine


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def by_key(engine: Engine, table: str, key: str = "task_key") -> dict[str, Any]:
    return {getattr(r, key): r for r in rows(engine, f"SELECT * FROM {table}")}
