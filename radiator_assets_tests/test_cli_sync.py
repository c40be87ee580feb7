"""`radiator sync` as a person runs it: against the emulator and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from radiator_assets.settings import get_settings
from radiator_assets.tracker.emulator import TrackerEmulator, generate_org
from radiator_assets_tests.cli_env import point_cli_at, run_cli, scalar, table_names


@pytest.fixture
def emulator(tracker_emulator_factory: Callable[..., TrackerEmulator]) -> TrackerEmulator:
    # A short span keeps the first sync's partition range (and Dagster's events) small.
    return tracker_emulator_factory(generate_org(seed=3, n_issues=40, span_days=20))


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


@pytest.mark.slow  # the first sync covers every daily partition since 2017
def test_first_sync_on_an_empty_external_database_migrates_first(
    emulator: TrackerEmulator,
    empty_database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert table_names(empty_database_url) == set()
    point_cli_at(monkeypatch, tmp_path, empty_database_url, emulator)

    ran = run_cli(capsys, "sync", "--no-reports")

    live = len(list(emulator.org.live()))
    assert ran.code == 0, ran.err[-3000:]
    assert f"issues:    {live} seen, {live} new" in ran.out
    assert scalar(empty_database_url, "SELECT count(*) FROM tracker_tasks") == live
    assert scalar(empty_database_url, "SELECT count(*) FROM tracker_changelog") == sum(
        len(record.changelog) for record in emulator.org.live()
    )
