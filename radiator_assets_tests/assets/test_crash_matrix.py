"""A `radiator sync` killed with SIGKILL anywhere, then one plain `radiator sync`, leaves exactly
the tables of one uninterrupted sync: no issue, changelog entry or stay lost or doubled.

The emulator scrolls unsorted (shuffled, as real Tracker does), so a mark computed from
what was committed so far would skip issues. Each case stops the real command at a
chosen point (the point inside its range is drawn from a seeded generator):

* `listing_start`:   the first scroll page is on its way, nothing is stored yet;
* `between_batches`: a later scroll page is on its way, earlier batches are committed
  (the listing reads ahead of the writes: the kill waits for a commit too);
* `changelog`:       some changelog fetches are done and committed, others in flight;
* `history`:         the status-history rebuild is inside its transaction.

for a first sync and for an incremental one after Tracker moved on. The command is
killed while the emulator (or PostgreSQL) holds that request, so the point is exact.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from radiator_assets.cli import main as radiator
from radiator_assets.emulator import Fault, TrackerEmulator
from radiator_assets.settings import get_settings
from radiator_assets_tests.assets.conftest import (
    count,
    history_start,
    reference_snapshot,
    run_full_sync,
    table_snapshot,
)

PER_SCROLL = 5
STALL_SECONDS = 120
SYNC = ["sync", "--no-reports"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One local Dagster instance for the module: its storage is set up once."""
    return tmp_path_factory.mktemp("dagster")


@pytest.fixture
def crash_env(
    tracker_env: TrackerEmulator, dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> TrackerEmulator:
    for name, value in {
        "TRACKER_PER_SCROLL": str(PER_SCROLL),
        "RADIATOR_SYNC_BATCH_SIZE": "5",
        "RADIATOR_HISTORY_START": history_start(tracker_env).isoformat(),
        "DAGSTER_HOME": str(dagster_home),
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return tracker_env


def _move_tracker_on(emulator: TrackerEmulator) -> None:
    from datetime import timedelta

    emulator.advance_clock(timedelta(hours=3))
    emulator.add_changes(15, kind="status")
    for _ in range(3):
        emulator.create_issue("CPO")


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + STALL_SECONDS
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"radiator sync ended ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"radiator sync never reached {what}")
        time.sleep(0.05)


def _stalled_request(emulator: TrackerEmulator, path: str) -> Callable[[], bool]:
    return lambda: any(r.fault == "slow" and path in r.path for r in emulator.requests)


def _last_write(engine: sa.Engine) -> object:
    """When issues were last written (every upserted batch sets `last_sync_at` to its
    transaction's time)."""
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT max(last_sync_at) FROM tracker_tasks"))


def _stall_history(engine: sa.Engine) -> Callable[[], bool]:
    """Make the history rebuild sleep inside its transaction; the condition says it does."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE FUNCTION crash_test_stall() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN PERFORM pg_sleep({STALL_SECONDS}); RETURN NULL; END $$"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TRIGGER crash_test_stall AFTER INSERT ON tracker_task_history "
                "FOR EACH STATEMENT EXECUTE FUNCTION crash_test_stall()"
            )
        )
    return lambda: _sleeping_backends(engine) > 0


def _sleeping_backends(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                    "AND datname = current_database()"
                )
            )
        )


def _arm(point: str, rng: random.Random, emulator: TrackerEmulator, engine: sa.Engine, first: bool):
    """Set the stall for `point`; returns the condition that says the command reached it."""
    issues = len(list(emulator.org.live())) if first else 18
    pages = -(-issues // PER_SCROLL)
    if point == "listing_start":
        emulator.add_fault(Fault("slow", "scrollType=", 1, delay=STALL_SECONDS))
        return _stalled_request(emulator, "/_search")
    if point == "between_batches":
        skip = rng.randint(0, pages - 3)  # pages 2..pages-1 of the scroll
        emulator.add_fault(Fault("slow", "scrollId=", 1, delay=STALL_SECONDS, skip=skip))
        # The listing reads ahead of the writes: the page can stall before the batches
        # before it are written, so the kill also waits for one of them to be committed.
        stalled, written = _stalled_request(emulator, "/_search"), _last_write(engine)
        return lambda: stalled() and _last_write(engine) != written
    if point == "changelog":
        skip = rng.randint(2, issues - 4)
        emulator.add_fault(Fault("slow", "/changelog", 1, delay=STALL_SECONDS, skip=skip))
        return _stalled_request(emulator, "/changelog")
    assert point == "history"
    return _stall_history(engine)


def _disarm(emulator: TrackerEmulator, engine: sa.Engine) -> None:
    """Clear the stall and end what the dead process left on the server (PostgreSQL would
    notice the closed socket on its own once the sleeping statement returned)."""
    emulator.clear_faults()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    engine.dispose()
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER IF EXISTS crash_test_stall ON tracker_task_history"))
        conn.execute(sa.text("DROP FUNCTION IF EXISTS crash_test_stall()"))


POINTS = ["listing_start", "between_batches", "changelog", "history"]


@pytest.mark.parametrize("sync_kind", ["first", "incremental"])
@pytest.mark.parametrize("point", POINTS)
def test_a_sync_killed_anywhere_then_one_plain_sync_equals_an_uninterrupted_sync(
    point: str,
    sync_kind: str,
    crash_env: TrackerEmulator,
    engine: sa.Engine,
    database_factory: Callable[[], URL],
    tmp_path: Path,
) -> None:
    rng = random.Random(f"{point}:{sync_kind}")
    first = sync_kind == "first"
    if not first:
        run_full_sync(engine)  # the first sync, done before the run under test
        _move_tracker_on(crash_env)
    before = table_snapshot(engine)
    reached = _arm(point, rng, crash_env, engine, first)

    log = (tmp_path / "killed.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "radiator_assets.cli", *SYNC],
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(reached, process, point)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    _disarm(crash_env, engine)
    killed = table_snapshot(engine)
    if point in ("between_batches", "changelog"):
        assert killed != before, "the kill came before anything was committed"

    assert radiator(SYNC) == 0  # one plain sync

    assert table_snapshot(engine) == reference_snapshot(database_factory)
    assert count(engine, "SELECT count(*) FROM tracker_sync_runs WHERE status = 'running'") == 0
    assert count(engine, "SELECT count(*) FROM tracker_quarantine") == 0
