"""The daemon alone keeps the warehouse current, on the production topology.

A gRPC code server, `dagster-daemon` and `dagster-webserver` run as separate
processes on `deploy/dagster.yaml` (dagster-postgres on the test server),
the warehouse is another database on that server, and Tracker is the
emulator in this process, changed by the test between ticks. Nothing but the
daemon starts a run: the sensor's first tick launches the initial sync, a
change of 20 issues an incremental run (the daemon is killed and restarted
while that run is under way), a quiet tick launches nothing, and a run that
fails on 503s is followed by a catch-up once Tracker answers again. A run
whose worker is killed mid-sync ends failed, frees its pool slot, and its
work is done by the next run.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from radiator_assets.assets.partitions import current_partition_key
from radiator_assets.emulator import Fault, TrackerEmulator, generate_org
from radiator_assets.emulator.truth import all_expected_stays
from radiator_assets.storage.engine import create_engine
from radiator_assets.sync.marks import listing_mark
from radiator_assets_tests.assets.conftest import QUERY, recent_now
from radiator_assets_tests.conftest import create_database, drop_database
from radiator_assets_tests.topology import LOCATION, Topology, pid_alive, run_key

pytestmark = pytest.mark.slow

JOB = "tracker_sync"
SENSOR = "tracker_changes_sensor"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState {
        status
        typeSpecificData { ... on SensorData { lastCursor } }
        ticks(limit: 20) { id status timestamp skipReason runIds error { message } }
      }
    }
  }
}
"""


@pytest.fixture
def dagster_database(pg_server_url: URL) -> Iterator[URL]:
    """An empty database of Dagster's own (runs, events, schedules), apart from the warehouse."""
    name = f"radiator_dagster_{uuid.uuid4().hex[:12]}"
    yield create_database(pg_server_url, name)
    drop_database(pg_server_url, name)


def _environment(
    emulator: TrackerEmulator, warehouse: URL, dagster_db: URL, root: Path
) -> dict[str, str]:
    """What each of the three processes reads: the variables deploy/ documents."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRACKER_", "RADIATOR_", "DAGSTER_"))
    }
    first_day = min(r.created_at for r in emulator.org.records.values()).date()
    return {
        **inherited,
        "DAGSTER_PG_URL": dagster_db.render_as_string(hide_password=False),
        "RADIATOR_DATABASE_URL": warehouse.render_as_string(hide_password=False),
        "RADIATOR_HOME": str(root / "home"),
        "RADIATOR_HISTORY_START": first_day.isoformat(),
        "RADIATOR_SENSOR_INTERVAL": "10",
        "TRACKER_API_URL": emulator.base_url,
        "TRACKER_TOKEN": emulator.token,
        "TRACKER_ORG_ID": emulator.org_id,
        "TRACKER_QUERY": QUERY,
        "TRACKER_RPS": "1000",
        "TRACKER_READ_TIMEOUT": "10",
        "TRACKER_MAX_RETRY_SECONDS": "2",
    }


def _mismatch(engine: Engine, emulator: TrackerEmulator) -> str | None:
    """How the warehouse differs from what Tracker holds now (None: it matches exactly)."""
    live = list(emulator.org.live())
    with engine.connect() as conn:
        tasks = set(
            conn.scalars(sa.text("SELECT tracker_id FROM tracker_tasks WHERE deleted_at IS NULL"))
        )
        entries = set(conn.scalars(sa.text("SELECT id FROM tracker_changelog")))
        stays: dict[str, list[tuple[str, Any, Any]]] = {}
        for r in conn.execute(
            sa.text(
                "SELECT tracker_id, status, start_date, end_date FROM tracker_task_history "
                "ORDER BY tracker_id, start_date"
            )
        ):
            stays.setdefault(r.tracker_id, []).append((r.status, r.start_date, r.end_date))
    expected_entries = {str(e["id"]) for r in live for e in r.changelog}
    expected_stays = {
        tracker_id: [(s.status_display, s.start, s.end) for s in issue_stays]
        for tracker_id, issue_stays in all_expected_stays(emulator.org).items()
    }
    if tasks != {r.id for r in live}:
        return f"issues differ: {len(tasks)} stored, {len(live)} live"
    if entries != expected_entries:
        return f"changelog ids differ: {len(entries ^ expected_entries)} not in both"
    if stays != expected_stays:
        return (
            f"stays differ for {sum(stays.get(k) != v for k, v in expected_stays.items())} issues"
        )
    return None


def _runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Runs of the sync job, oldest first."""
    return list(reversed(instance.get_runs(filters=dg.RunsFilter(job_name=JOB))))


def _ticks(topology: Topology) -> dict[str, Any]:
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": "__repository__",
        "sensorName": SENSOR,
    }
    sensor = topology.graphql(TICKS, {"selector": selector})["sensorOrError"]
    assert sensor["__typename"] == "Sensor", sensor
    return sensor["sensorState"]


def _finished(instance: dg.DagsterInstance, key_prefix: str) -> dg.DagsterRun | None:
    """The first run whose key starts with `key_prefix`, once it finished."""
    for run in _runs(instance):
        if run_key(run).startswith(key_prefix) and run.status in FINISHED:
            return run
    return None


@dataclass
class Running:
    topology: Topology
    instance: dg.DagsterInstance
    emulator: TrackerEmulator
    warehouse: Engine


@contextmanager
def _running(
    root: Path,
    emulator: TrackerEmulator,
    warehouse_url: URL,
    dagster_db: URL,
    monkeypatch: pytest.MonkeyPatch,
    instance_overrides: dict[str, Any] | None = None,
) -> Iterator[Running]:
    """The three processes up on the emulator and the warehouse; on the way out every
    process group is stopped, and no pid it started may be left."""
    env = _environment(emulator, warehouse_url, dagster_db, root)
    topology = Topology.prepare(root, env, instance_overrides)
    for name in ("DAGSTER_HOME", "DAGSTER_PG_URL"):
        monkeypatch.setenv(name, topology.env[name])
    warehouse = create_engine(warehouse_url)
    try:
        topology.start_code_server()
        topology.start_daemon()
        topology.start_webserver()
        with dg.DagsterInstance.get() as instance:
            yield Running(topology, instance, emulator, warehouse)
    finally:
        warehouse.dispose()
        pids = topology.stop()
    assert [pid for pid in pids if pid_alive(pid)] == []


def test_the_daemon_keeps_the_warehouse_current_on_the_production_topology(
    tmp_path: Path,
    tracker_emulator_factory: Any,
    database_factory: Any,
    dagster_database: URL,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = tracker_emulator_factory(
        generate_org(seed=11, n_issues=60, span_days=20, now=recent_now())
    )
    with _running(tmp_path, emulator, database_factory(), dagster_database, monkeypatch) as running:
        _live_checks(running.topology, running.instance, emulator, running.warehouse)


def test_a_run_whose_worker_is_killed_fails_frees_its_pool_slot_and_its_work_gets_done(
    tmp_path: Path,
    tracker_emulator_factory: Any,
    database_factory: Any,
    dagster_database: URL,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An OOM kill of the run worker mid-sync. The code server fails the run; the pool slot
    its step held is freed by run monitoring (`free_slots_after_run_end_seconds`: without
    it every later sync waited for that slot forever); the work is then done by a run the
    daemon starts on its own. deploy/dagster.yaml waits 120 s before freeing, 5 s here."""
    emulator = tracker_emulator_factory(
        generate_org(seed=12, n_issues=150, span_days=20, now=recent_now()), latency=0.1
    )
    faster = {"run_monitoring": {"free_slots_after_run_end_seconds": 5, "poll_interval_seconds": 5}}
    with _running(
        tmp_path, emulator, database_factory(), dagster_database, monkeypatch, faster
    ) as running:
        topology, instance, warehouse = running.topology, running.instance, running.warehouse
        topology.wait(
            lambda: _count(warehouse, "tracker_sync_runs WHERE kind = 'changelog'"),
            240,
            "the first sync's changelog step to start",
        )
        (victim,) = _runs(instance)
        assert topology.kill_run_workers() != []
        failed = topology.wait(
            lambda: (
                instance.get_run_by_id(victim.run_id).status in FINISHED
                and instance.get_run_by_id(victim.run_id)
            ),
            120,
            "the killed run to end",
        )
        assert failed.status == dg.DagsterRunStatus.FAILURE
        topology.wait(lambda: _succeeded_after(instance, failed), 300, "a run after the killed one")
        topology.wait(lambda: _mismatch(warehouse, emulator) is None, 60, "the warehouse to match")
        assert not [r for r in _runs(instance) if r.status not in FINISHED]
        # The step the dead worker left `running` in the journal was settled as abandoned.
        assert _count(warehouse, "tracker_sync_runs WHERE status = 'running'") == 0


def _count(engine: Engine, source: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.text(f"SELECT count(*) FROM {source}")))


def _wait_for_success(
    topology: Topology, instance: dg.DagsterInstance, key_prefix: str, what: str
) -> dg.DagsterRun:
    run = topology.wait(lambda: _finished(instance, key_prefix), 300, what)
    assert run.status == dg.DagsterRunStatus.SUCCESS, (run.run_id, run.status, topology.logs())
    return run


def _live_checks(
    topology: Topology, instance: dg.DagsterInstance, emulator: TrackerEmulator, warehouse: Engine
) -> None:
    # 1. The sensor's first tick launches the initial sync: every month in one run.
    initial = _wait_for_success(topology, instance, "initial-sync:", "the initial sync")
    assert initial.tags["dagster/asset_partition_range_start"] == env_first_month(topology)
    assert _mismatch(warehouse, emulator) is None

    # 2. Tracker changes 20 issues: the daemon launches an incremental run by itself. The
    #    daemon is killed as soon as that run exists and a new one takes over: the run is
    #    not stuck, not launched twice, and the cursor is not lost.
    emulator.advance_clock(timedelta(minutes=5))
    changed = emulator.add_changes(20)
    assert len(changed) == 20
    topology.wait(
        lambda: any(run_key(r).startswith("sync:") for r in _runs(instance)),
        120,
        "the sensor to request an incremental run",
    )
    topology.kill("daemon")
    topology.start_daemon()
    incremental = _wait_for_success(topology, instance, "sync:", "the incremental run")
    topology.wait(lambda: _mismatch(warehouse, emulator) is None, 60, "the warehouse to match")
    assert [run_key(r).split(":")[0] for r in _runs(instance)] == ["initial-sync", "sync"]
    assert incremental.tags["dagster/partition"] == current_partition_key()

    # 3. Nothing changes: ticks are skipped with their reason and request count; no run.
    since = max(
        r.end_time or 0 for r in instance.get_run_records(filters=dg.RunsFilter(job_name=JOB))
    )
    quiet = topology.wait(
        lambda: [t for t in _ticks(topology)["ticks"] if t["timestamp"] > since][1:] or None,
        120,
        "two sensor ticks after the incremental run",
    )
    with warehouse.connect() as conn:
        mark = listing_mark(conn, QUERY)
    assert mark is not None
    assert {t["status"] for t in quiet} == {"SKIPPED"}
    for tick in quiet:
        assert re.fullmatch(
            rf"nothing changed since {re.escape(mark.isoformat())} \(1 request\)",
            tick["skipReason"],
        ), tick
    state = _ticks(topology)
    assert state["typeSpecificData"]["lastCursor"] == mark.isoformat()
    assert len(_runs(instance)) == 2

    # 4. Tracker answers 503 to the issue listing for a while: the run fails; once it
    #    answers again, a run started by the daemon alone catches up.
    emulator.faults.add(Fault.http(503, path=r"_search\?.*scrollType", count=None))
    emulator.advance_clock(timedelta(minutes=5))
    emulator.add_changes(5)
    failed = topology.wait(
        lambda: next((r for r in _runs(instance) if r.status == dg.DagsterRunStatus.FAILURE), None),
        180,
        "a run to fail on the 503s",
    )
    emulator.faults.clear()
    caught_up = topology.wait(
        lambda: _succeeded_after(instance, failed), 300, "a successful run after the failed one"
    )
    assert caught_up.run_id != failed.run_id
    topology.wait(lambda: _mismatch(warehouse, emulator) is None, 60, "the warehouse to catch up")

    # No two sync steps ever wrote at once, whoever launched them.
    with warehouse.connect() as conn:
        steps = conn.execute(
            sa.text("SELECT started_at, finished_at FROM tracker_sync_runs ORDER BY started_at")
        ).all()
    assert all(a.finished_at is not None for a in steps)
    assert all(b.started_at >= a.finished_at for a, b in pairwise(steps))
    assert not [r for r in _runs(instance) if r.status not in FINISHED]


def env_first_month(topology: Topology) -> str:
    return topology.env["RADIATOR_HISTORY_START"][:8] + "01"


def _succeeded_after(instance: dg.DagsterInstance, failed: dg.DagsterRun) -> dg.DagsterRun | None:
    ids = [r.run_id for r in _runs(instance)]
    later = _runs(instance)[ids.index(failed.run_id) + 1 :]
    return next((r for r in later if r.status == dg.DagsterRunStatus.SUCCESS), None)
