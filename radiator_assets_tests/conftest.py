"""Shared fixtures: a real PostgreSQL for every test, and the Tracker emulator.

The server is `RADIATOR_TEST_DATABASE_URL` when set (CI points it at the
machine's PostgreSQL), otherwise an embedded server started once per test
session. Each xdist worker migrates one template database with Alembic; each
test gets its own copy (`CREATE DATABASE ... TEMPLATE`), so tests are isolated
and parallel-safe without paying for a migration per test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from radiator_assets.settings import get_settings
from radiator_assets.storage import embedded
from radiator_assets.storage.engine import create_engine, normalise_url
from radiator_assets.storage.migrations import upgrade

pytest_plugins = ["radiator_assets_tests.tracker_fixtures"]


def _admin_engine(server_url: URL) -> Engine:
    return sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def create_database(server_url: URL, name: str, template: str | None = None) -> URL:
    clause = f' TEMPLATE "{template}"' if template else ""
    with _admin_engine(server_url).connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{clause}'))
    return server_url.set(database=name)


def drop_database(server_url: URL, name: str) -> None:
    with _admin_engine(server_url).connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[URL]:
    """A URL of the maintenance database of a real PostgreSQL server."""
    configured = os.environ.get("RADIATOR_TEST_DATABASE_URL")
    if configured:
        yield normalise_url(configured)
        return
    # Not under pytest's basetemp: pytest prunes old basetemps, which would pull the data
    # directory from under a server still used by a concurrent session.
    root = Path(tempfile.mkdtemp(prefix="radiator-test-pg-"))
    pgdata = root / "pgdata"
    try:
        yield normalise_url(embedded.ensure_server(pgdata)).set(database="postgres")
    finally:
        embedded.stop_server(pgdata)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(pg_server_url: URL) -> Iterator[str]:
    """A database migrated to head with Alembic, the template of every test database."""
    name = f"radiator_tpl_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server_url, name)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    yield name
    drop_database(pg_server_url, name)


@pytest.fixture
def empty_database_url(pg_server_url: URL) -> Iterator[URL]:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"radiator_empty_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server_url, name)
    yield url
    drop_database(pg_server_url, name)


@pytest.fixture
def database_url(pg_server_url: URL, template_database: str) -> Iterator[URL]:
    """A fresh, fully migrated database of this test's own."""
    name = f"radiator_t_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server_url, name, template=template_database)
    yield url
    drop_database(pg_server_url, name)


@pytest.fixture
def engine(database_url: URL) -> Iterator[Engine]:
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def app_env(
    database_url: URL, tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[URL]:
    """Point the application's own configuration at this test's database and home."""
    monkeypatch.setenv("RADIATOR_DATABASE_URL", database_url.render_as_string(hide_password=False))
    monkeypatch.setenv("RADIATOR_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


@pytest.fixture
def database_factory(pg_server_url: URL, template_database: str) -> Iterator[Callable[[], URL]]:
    """Makes more fresh, migrated databases (for comparing two syncs side by side)."""
    names: list[str] = []

    def make() -> URL:
        name = f"radiator_t_{uuid.uuid4().hex[:12]}"
        names.append(name)
        return create_database(pg_server_url, name, template=template_database)

    yield make
    for name in names:
        drop_database(pg_server_url, name)
