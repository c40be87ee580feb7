"""`radiator demo --serve`: the product running live on one machine, until Ctrl-C.

What it starts, in this order (and stops in the reverse one):

1. the warehouse: the embedded PostgreSQL under `$RADIATOR_HOME/pgdata` (or
   `RADIATOR_DATABASE_URL`), migrated;
2. the Tracker emulator, in this process, serving a generated organisation whose clock
   ends now and whose history starts on its first day (as `radiator demo`);
3. `dagster dev` (webserver, daemon, code server) as a child process, pointed at both
   through the environment (`TRACKER_*`, `RADIATOR_HISTORY_START`, `RADIATOR_HOME`,
   `DAGSTER_HOME`), with a short sensor interval;
4. once the UI answers and its address is printed, the organisation's life (`Churn`):
   every `--churn-seconds` the clock catches up with real time and issues move, appear
   and go, one printed line per step.

Decisions:

* No sync here: the sensor's first tick requests the first sync (every month since the
  organisation's first day); later ticks skip ("nothing changed") or request a sync of
  what the churn changed. Watching that is the point of the live demo.
* `dagster dev` runs in a session of its own, so Ctrl-C in the terminal reaches this
  process only. SIGINT and SIGTERM just set an event; this process then stops everything
  in order: the churn, dagster dev's whole process group (SIGTERM, which dagster dev also
  passes on to its webserver, daemon and code server; SIGKILL for whatever is left after
  a grace period; a run under way ends as failed and the next sync resumes its work), the
  emulator, and the embedded server only when this command started it. The data (pgdata,
  the Dagster instance) stays. POSIX only (`os.killpg`).
* dagster dev's own output goes to `$RADIATOR_HOME/logs/dagster-dev.log` (rewritten at
  each start): the terminal shows the banner and the churn's lines.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from radiator_assets.demo import (
    DEMO_ORG_ID,
    DEMO_TOKEN,
    DemoOptions,
    demo_organisation,
    demo_tracker_env,
)
from radiator_assets.emulator import TrackerEmulator
from radiator_assets.emulator.live import Churn, ChurnStep
from radiator_assets.runner import dagster_home, logs_dir
from radiator_assets.settings import get_settings
from radiator_assets.storage import embedded
from radiator_assets.storage.engine import display_url, get_engine
from radiator_assets.storage.migrations import ensure_migrated

HOST = "127.0.0.1"
#: seconds between the sensor's ticks (the setting's minimum is 10)
SENSOR_INTERVAL = 15
#: how long dagster dev may take to answer, and to stop before SIGKILL
STARTUP_TIMEOUT = 180.0
STOP_GRACE = 30.0
POLL = 0.5


@dataclass(frozen=True)
class ServeOptions(DemoOptions):
    """`radiator demo --serve`'s options; the organisation is `radiator demo`'s."""

    port: int = 3000
    churn_seconds: float = 20.0


def serve(options: ServeOptions) -> int:
    """Run the live demo until SIGINT or SIGTERM; 0 after a clean stop."""
    if not port_free(options.port):
        return _fail(
            f"port {options.port} is in use ({HOST}:{options.port})",
            "stop what listens there or pick another with --port",
            code=2,
        )
    home = get_settings().home.resolve()
    with one_live_demo(home) as holder:
        if holder is not None:
            return _fail(
                f"another radiator demo --serve (pid {holder}) uses {home}",
                "stop it first, or start this one with another RADIATOR_HOME",
                code=2,
            )
        return _serve_owned(options, home)


def _serve_owned(options: ServeOptions, home: Path) -> int:
    print(f"radiator demo --serve: data under {home}", flush=True)
    with _stop_requests() as stopping, ExitStack() as stack:
        code = _run(stack, stopping, options, home)
        if code == 0:
            print("stopping ...", flush=True)
    if code == 0:
        print(f"stopped; the data stays under {home}", flush=True)
    return code


def _run(stack: ExitStack, stopping: threading.Event, options: ServeOptions, home: Path) -> int:
    """Start everything onto `stack` (which stops it all), print the banner, wait for a
    stop request. A stop requested while starting ends the start-up early."""
    engine = open_warehouse(stack)
    stored = _stored_issues(engine)  # before any sync of this demo can store one
    if stopping.is_set():
        return 0
    emulator, first_day = _start_tracker(stack, options)
    log_path = logs_dir() / "dagster-dev.log"
    env = dagster_env(emulator, first_day, home)
    dev = stack.enter_context(_dagster_dev(env, options.port, log_path))
    url = f"http://{HOST}:{options.port}"
    state = _wait_until_answering(dev, f"{url}/server_info", stopping)
    if state == "stopping":
        return 0
    if state != "answering":
        return _fail(f"dagster dev {state}", f"see its log, {log_path}")
    churn = _churn(emulator, options)
    print(_banner(url, emulator, engine, churn, first_day, env, log_path, stored), flush=True)
    if churn is not None:
        # After the banner, so its lines follow it; stopped first, before dagster dev.
        stack.enter_context(churn)
    while not stopping.wait(POLL):
        if dev.poll() is not None:
            return _fail(f"dagster dev stopped (exit code {dev.returncode})", f"see {log_path}")
    return 0


@contextmanager
def one_live_demo(home: Path) -> Iterator[str | None]:
    """Hold `$RADIATOR_HOME/serve.lock` while this demo runs; yields None when held here,
    else the pid written by the demo that holds it. Two live demos on one home would
    feed two organisations into one warehouse (the same keys under different ids) and run
    two daemons on one instance. The kernel releases the lock when the process ends, even
    killed."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / "serve.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            yield lock.read().strip() or "?"
            return
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield None


def _fail(what: str, todo: str, *, code: int = 1) -> int:
    """The `radiator: error: ...` line of a demo that cannot go on; everything it started
    is stopped by the caller's exit stack."""
    print(f"radiator: error: {what}: {todo}", file=sys.stderr, flush=True)
    return code


@contextmanager
def _stop_requests() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set the event instead of interrupting whatever runs: the demo
    then stops in order. The previous handlers come back after."""
    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def port_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on `host:port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def open_warehouse(stack: ExitStack) -> sa.Engine:
    """The migrated warehouse. The embedded server is stopped on exit only when this call
    started it: one that ran before (another demo, `radiator db upgrade`) keeps running."""
    settings = get_settings()
    was_running = settings.database_url is not None or embedded.server_running(settings.pgdata_dir)
    if not was_running:  # registered first: a start that fails half-way is stopped too
        stack.callback(embedded.stop_server, settings.pgdata_dir)
    engine = get_engine()
    stack.callback(engine.dispose)
    ensure_migrated(engine)
    return engine


def _start_tracker(stack: ExitStack, options: ServeOptions) -> tuple[TrackerEmulator, date]:
    """The emulator serving an organisation whose clock ends now; its first day."""
    org, first_day = demo_organisation(options, datetime.now(UTC).replace(microsecond=0))
    emulator = stack.enter_context(TrackerEmulator(org, token=DEMO_TOKEN, org_id=DEMO_ORG_ID))
    return emulator, first_day


def _churn(emulator: TrackerEmulator, options: ServeOptions) -> Churn | None:
    """The organisation's life, one printed line per step (None with --churn-seconds 0)."""
    if not options.churn_seconds:
        return None

    def say(step: ChurnStep) -> None:
        print(step.describe(), flush=True)

    return Churn(emulator.org, seconds=options.churn_seconds, seed=options.seed, on_step=say)


def dagster_env(emulator: TrackerEmulator, first_day: date, home: Path) -> dict[str, str]:
    """This process's environment with the variables a user would set for the emulator,
    the organisation's first day, the shared home and instance, and a short sensor
    interval."""
    env = dict(os.environ)
    env.pop("TRACKER_CLOUD_ORG_ID", None)
    env.update(
        {
            **demo_tracker_env(emulator, first_day),
            "RADIATOR_HOME": str(home),
            "DAGSTER_HOME": str(dagster_home()),
            "RADIATOR_SENSOR_INTERVAL": str(SENSOR_INTERVAL),
        }
    )
    return env


def dagster_command(port: int) -> list[str]:
    """`dagster dev` of this environment (the executable next to this Python), by
    absolute path: it must not depend on PATH or an activated venv."""
    dagster = Path(sys.executable).parent / "dagster"
    return [str(dagster), "dev", "-m", "radiator_assets.definitions", "-h", HOST, "-p", str(port)]


@contextmanager
def _dagster_dev(
    env: dict[str, str], port: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """dagster dev in a session (and process group) of its own, output to `log_path`;
    its whole group is stopped on exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            dagster_command(port),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_terminated_with_this_process(),
        )
    try:
        yield process
    finally:
        stop_process_group(process)


def _terminated_with_this_process() -> Callable[[], None] | None:
    """For the child, between fork and exec: Linux sends it SIGTERM when this process ends,
    however (a SIGKILL included), and dagster dev stops its webserver, daemon and code
    server on SIGTERM. Elsewhere None (Ctrl-C and SIGTERM still stop everything in order).
    The C function is looked up here, before the fork: the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, sigterm)

    return set_parent_death_signal


def stop_process_group(process: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
    """SIGTERM to the process group `process` leads, wait up to `grace` seconds for it and
    every other member to end, then SIGKILL the group if anything lingers."""
    group = process.pid  # start_new_session: the child leads its own group
    _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    while group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process.poll() is None or group_alive(group):
        _signal_group(group, signal.SIGKILL)
        process.wait()


def _signal_group(group: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):  # every member has ended
        os.killpg(group, sig)


def group_alive(group: int) -> bool:
    """Whether any process of the group still runs (zombies awaiting their parent count)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_until_answering(
    process: subprocess.Popen[bytes], url: str, stopping: threading.Event
) -> str:
    """Poll `url` until it answers 200 ("answering"); or "stopping" when a stop is
    requested first, or what went wrong: the process ended, or `STARTUP_TIMEOUT` passed."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not stopping.is_set():
        if process.poll() is not None:
            return f"stopped before its webserver answered (exit code {process.returncode})"
        if time.monotonic() > deadline:
            return f"did not answer {url} within {STARTUP_TIMEOUT:g} s"
        try:
            with opener.open(url, timeout=5) as answer:
                if answer.status == 200:
                    return "answering"
        except OSError:
            pass  # not listening yet
        stopping.wait(POLL)
    return "stopping"


def _stored_issues(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM tracker_tasks")).scalar_one())


def _banner(
    url: str,
    emulator: TrackerEmulator,
    engine: sa.Engine,
    churn: Churn | None,
    first_day: date,
    env: dict[str, str],
    log_path: Path,
    stored: int,
) -> str:
    """The UI's address, where everything is, what to watch and how to stop."""
    home = env["RADIATOR_HOME"]
    life = (
        f"  * Here: {churn.cadence()}; one line per step below. Deleted issues leave the "
        "warehouse with the nightly reconciliation (02:00 UTC), not with the sensor's syncs."
        if churn
        else "  * The organisation stands still (--churn-seconds 0): later ticks find nothing."
    )
    lines = [
        "",
        f"Dagster UI: {url}",
        f"  Tracker emulator : {emulator.base_url} ({len(emulator.org)} issues since "
        f"{first_day}; token {DEMO_TOKEN}, org {DEMO_ORG_ID})",
        f"  warehouse        : {display_url(engine.url)}",
        f"  Dagster instance : {env['DAGSTER_HOME']}",
        f"  dagster dev log  : {log_path}",
        "",
        "What to watch:",
        f"  * Automation -> tracker_changes_sensor: a tick every {SENSOR_INTERVAL} s. The "
        "first one requests the first sync (every month since the organisation's first "
        'day); later ones skip ("run ... of tracker_sync is started", "nothing changed '
        'since ...") or request a sync of what changed.',
        "  * Runs: the job tracker_sync's runs (ingestion, then the report tables), each "
        "started by the sensor.",
        "  * Assets -> tracker_changelog: its monthly partitions turn materialized after the "
        "first run; the report_* tables follow (report_pictures: Materialize, or "
        "`radiator pictures`).",
        life,
    ]
    if stored:
        lines.append(
            f"  Note: the warehouse already holds {stored} issues of an earlier run, so the "
            "sensor syncs from that run's last listing on and this new organisation mixes "
            "with the old one. For a clean first sync use another RADIATOR_HOME."
        )
    lines += [
        "",
        f"Ctrl-C stops everything; data stays under {home}. (A run under way is stopped "
        "too and shows as failed; what it stored is kept, and the next sync resumes.)",
        "",
    ]
    return "\n".join(lines)
