"""Killed or concurrent syncs end with the same tables as one clean sync."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import URL

from radiator_assets.emulator import TrackerEmulator
from radiator_assets.sync.locking import sync_lock
from radiator_assets_tests.assets.conftest import (
    count,
    reference_snapshot,
    run_full_sync,
    table_snapshot,
)


def test_a_sync_killed_half_way_then_rerun_loses_and_duplicates_nothing(
    tracker_env: TrackerEmulator, engine: sa.Engine, database_factory: Callable[[], URL]
) -> None:
    killed = subprocess.run(
        [sys.executable, "-m", "radiator_assets_tests.assets.killed_sync", "3"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr[-2000:]
    partial = count(engine, "SELECT count(*) FROM tracker_changelog")
    assert 0 < partial < sum(len(r.changelog) for r in tracker_env.org.live())
    # Entries and the cursors covering them were committed together.
    assert (
        count(
            engine,
            "SELECT count(*) FROM tracker_tasks t WHERE t.last_changelog_id IS NOT NULL AND NOT "
            "EXISTS (SELECT 1 FROM tracker_changelog c WHERE c.id = t.last_changelog_id)",
        )
        == 0
    )

    run_full_sync(engine)

    assert table_snapshot(engine) == reference_snapshot(database_factory)


def test_two_syncs_started_at_once_leave_the_same_tables_as_one(
    tracker_env: TrackerEmulator, engine: sa.Engine, database_factory: Callable[[], URL]
) -> None:
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            run_full_sync(engine)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert table_snapshot(engine) == reference_snapshot(database_factory)


def test_a_sync_waits_while_another_holds_the_write_lock(
    tracker_env: TrackerEmulator, engine: sa.Engine, caplog
) -> None:
    finished = threading.Event()

    def sync() -> None:
        run_full_sync(engine)
        finished.set()

    with sync_lock(engine):
        worker = threading.Thread(target=sync)
        worker.start()
        assert not finished.wait(1.0)
        assert count(engine, "SELECT count(*) FROM tracker_tasks") == 0
    worker.join(timeout=60)

    assert finished.is_set()
    assert count(engine, "SELECT count(*) FROM tracker_tasks") == len(list(tracker_env.org.live()))
    assert "another sync is writing; waiting for it to finish" in caplog.text
