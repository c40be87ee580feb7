"""`radiator demo --serve`: the live demo starts, its sensor syncs the living organisation,
and Ctrl-C stops every process it started while the data stays."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from radiator_assets.cli import main
from radiator_assets.emulator.process import output_lines
from radiator_assets.live_demo import one_live_demo, open_warehouse, port_free
from radiator_assets.settings import get_settings
from radiator_assets.storage import embedded
from radiator_assets_tests.topology import free_port, run_key

#: bounds on waits (never asserted: a loaded machine is slower, not wrong)
STARTUP = 180.0
SYNCS = 240.0
EXIT = 120.0
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_for(what: str, condition: Callable[[], Any], timeout: float) -> Any:
    """Poll `condition` until it returns something truthy (returned); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(1)


@dataclass
class Demo:
    """The running `radiator demo --serve` process, its output so far and its descendants
    as seen (pid -> creation time, so a reused pid is not mistaken for one of them)."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None]
    out: list[str] = field(default_factory=list)
    descendants: dict[int, float] = field(default_factory=dict)

    def read_until(self, marker: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while not any(marker in line for line in self.out):
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} yet:\n" + "\n".join(self.out)) from None
            assert line is not None, "the demo's output ended:\n" + "\n".join(self.out)
            self.out.append(line)
        return self.out

    def drain(self) -> None:
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.out.append(line)

    def value(self, label: str) -> str:
        """The value of a banner line `  label : value`."""
        (line,) = [line for line in self.out if line.strip().startswith(label)]
        return line.split(":", 1)[1].strip().split()[0]

    def note_descendants(self) -> None:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            with suppress(psutil.NoSuchProcess):
                self.descendants[child.pid] = child.create_time()

    def alive_descendants(self) -> list[psutil.Process]:
        """The descendants seen that still run (a zombie has ended: only its exit status
        waits for a parent)."""
        alive = []
        for pid, created in self.descendants.items():
            with suppress(psutil.NoSuchProcess):
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive


@contextmanager
def _serve(env: dict[str, str], cwd: Path, *argv: str) -> Iterator[Demo]:
    """`radiator demo --serve ...` as a shell starts it; whatever the test leaves running is
    terminated after it (a failing test must not leave servers behind)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "radiator_assets.cli", "demo", "--serve", *argv],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    demo = Demo(process, output_lines(process, "demo-stdout"))
    try:
        yield demo
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=EXIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for proc in demo.alive_descendants():
            with suppress(psutil.NoSuchProcess):
                proc.kill()


def _stored_keys(url: URL) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT key FROM tracker_tasks")).scalars())
    finally:
        engine.dispose()


def _runs(dagster_home: Path) -> list[dg.DagsterRun]:
    """Every run of the demo's instance, oldest first."""
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        return list(reversed(instance.get_runs()))
    finally:
        instance.dispose()


@pytest.mark.slow
def test_serve_runs_live_until_ctrl_c_and_then_every_process_it_started_is_gone(
    database_url: URL, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "DAGSTER_"))}
    env["RADIATOR_DATABASE_URL"] = database_url.render_as_string(hide_password=False)
    env["RADIATOR_HOME"] = str(home)
    ui_port = free_port()
    argv = ("--issues", "40", "--port", str(ui_port), "--churn-seconds", "2")

    with _serve(env, tmp_path, *argv) as demo:
        demo.read_until("Ctrl-C stops everything", STARTUP)
        demo.note_descendants()
        ui = f"http://127.0.0.1:{ui_port}"
        assert f"Dagster UI: {ui}" in demo.out
        with LOOPBACK.open(f"{ui}/server_info", timeout=30) as answer:
            info = json.load(answer)
        assert answer.status == 200 and "dagster_webserver_version" in info
        tracker_port = int(demo.value("Tracker emulator").rsplit(":", 1)[1])
        dagster_home = Path(demo.value("Dagster instance"))
        assert dagster_home == (home / "dagster").resolve()

        # The sensor's first tick starts the first sync (nothing here syncs itself), later
        # ticks sync what the living organisation changed: issues the churn creates reach
        # the warehouse.
        def synced() -> bool:
            demo.drain()
            demo.note_descendants()
            created = set(re.findall(r"created ([A-Z]+-\d+)", "\n".join(demo.out)))
            runs = _runs(dagster_home)
            return bool(created & _stored_keys(database_url)) and any(
                run_key(r).startswith("sync:") and r.status == dg.DagsterRunStatus.SUCCESS
                for r in runs
            )

        _wait_for("the sensor's syncs of the living organisation", synced, SYNCS)
        first = _runs(dagster_home)[0]
        assert first.job_name == "tracker_sync"
        assert run_key(first).startswith("initial-sync:")
        assert first.status == dg.DagsterRunStatus.SUCCESS
        assert len(_stored_keys(database_url)) > 40

        demo.note_descendants()
        assert len(demo.descendants) >= 4  # dagster dev, its webserver, daemon, code server
        demo.process.send_signal(signal.SIGINT)
        assert demo.process.wait(timeout=EXIT) == 0
        demo.read_until("stopped; the data stays under", 10)

    assert demo.alive_descendants() == []
    assert port_free(ui_port) and port_free(tracker_port)
    # The data stays: the warehouse, the Dagster instance and its runs.
    assert len(_stored_keys(database_url)) > 40
    assert (dagster_home / "dagster.yaml").exists()
    assert run_key(_runs(dagster_home)[0]).startswith("initial-sync:")


@pytest.mark.slow
def test_a_killed_live_demo_takes_dagster_dev_and_everything_it_started_with_it(
    database_url: URL, tmp_path: Path
) -> None:
    """SIGKILL leaves no handler to run: the kernel tells dagster dev (its parent is gone),
    and dagster dev stops its webserver, daemon and code server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "DAGSTER_"))}
    env["RADIATOR_DATABASE_URL"] = database_url.render_as_string(hide_password=False)
    env["RADIATOR_HOME"] = str(tmp_path / "home")
    ui_port = free_port()
    argv = ("--issues", "20", "--port", str(ui_port), "--churn-seconds", "0")

    with _serve(env, tmp_path, *argv) as demo:
        demo.read_until("Ctrl-C stops everything", STARTUP)
        demo.note_descendants()
        assert len(demo.descendants) >= 4  # dagster dev, its webserver, daemon, code server
        demo.process.kill()
        demo.process.wait(timeout=EXIT)
        _wait_for("every process it started to end", lambda: not demo.alive_descendants(), EXIT)

    assert port_free(ui_port)


def test_a_second_live_demo_on_the_same_home_is_refused(
    app_env: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two would feed two organisations into one warehouse (one key under two ids)."""
    home = get_settings().home.resolve()
    with one_live_demo(home) as holder:
        assert holder is None
        code = main(["demo", "--serve", "--port", str(free_port())])
    err = capsys.readouterr().err
    assert code == 2
    assert f"radiator: error: another radiator demo --serve (pid {os.getpid()}) uses {home}" in err
    with one_live_demo(home) as holder:  # released with its holder
        assert holder is None


@pytest.fixture
def embedded_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home of its own for the embedded server (no RADIATOR_DATABASE_URL); its pgdata.

    Not under pytest's tmp_path, which the server's own user may not enter (see conftest)."""
    root = Path(tempfile.mkdtemp(prefix="radiator-test-serve-"))
    monkeypatch.delenv("RADIATOR_DATABASE_URL", raising=False)
    monkeypatch.setenv("RADIATOR_HOME", str(root / "home"))
    get_settings.cache_clear()
    pgdata = get_settings().pgdata_dir
    try:
        yield pgdata
    finally:
        embedded.stop_server(pgdata)
        get_settings.cache_clear()
        shutil.rmtree(root, ignore_errors=True)


def test_an_embedded_server_the_demo_started_is_stopped_after_and_its_data_stays(
    embedded_home: Path,
) -> None:
    with ExitStack() as stack:
        open_warehouse(stack)
        assert embedded.server_running(embedded_home)
    assert not embedded.server_running(embedded_home)
    assert (embedded_home / "PG_VERSION").exists()


def test_an_embedded_server_running_before_the_demo_keeps_running(embedded_home: Path) -> None:
    # Started by another process, as `radiator db upgrade` (or another demo) leaves it.
    upgraded = subprocess.run(
        [sys.executable, "-m", "radiator_assets.cli", "db", "upgrade"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=EXIT,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert embedded.server_running(embedded_home)
    with ExitStack() as stack:
        open_warehouse(stack)
    assert embedded.server_running(embedded_home)


def test_a_port_in_use_is_refused_before_anything_starts(
    app_env: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["demo", "--serve", "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"radiator: error: port {port} is in use (127.0.0.1:{port})" in err


def test_serve_options_need_serve(app_env: URL, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--port", "3001"]) == 2
    assert "--port and --churn-seconds go with --serve" in capsys.readouterr().err
