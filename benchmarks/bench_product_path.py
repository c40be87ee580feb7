"""Benchmark: what users run (`radiator sync`, the README's `dagster asset materialize`)
against the sync core alone, on the same emulated Tracker, in one run.

    python benchmarks/bench_product_path.py [--issues 1000,3000] [--latency-ms 20]
        [--workers 10] [--storage-issues 400] [--predecessor DIR] [--profile] [--quick]

Run by hand, not in CI; prints one table of wall seconds, ratios to the core measured
in the same run, and the targets of issue 9 with PASS/FAIL. For each size it starts the
Tracker emulator (profile "full", `--latency-ms` per request, its clock ending yesterday,
the organisation's first day = RADIATOR_HISTORY_START) in a child process, then runs,
one after the other, each on a fresh database of the local server (postgres@127.0.0.1,
trust auth; created and dropped here):

1. core: `sync_issues` + `sync_changelogs` + `build_history` through the locked writer,
   in a spawned child, the client built from the same settings (database migrated
   before the clock starts) -- the baseline;
2. `radiator sync --no-reports` as a subprocess (fresh RADIATOR_HOME, DAGSTER_HOME
   unset), then a no-change `radiator sync --no-reports` right after it;
3. the README's first-sync `dagster asset materialize` command ("With a Dagster
   deployment"), with this interpreter's `dagster` and a fresh DAGSTER_HOME;
4. the predecessor's full sync (`python -m radiator.commands.sync_tracker`), when
   `--predecessor DIR` names its checkout (the public repository Bambuk/exp1; a venv
   with its dependencies is made in DIR/.venv on first use).

Then the Dagster storage (bytes under DAGSTER_HOME) after the README's first sync of a
`--storage-issues` organisation, and what the README's no-change incremental command
adds. Every radiator path gets the same environment; the client-side rate limit
(TRACKER_RPS) is lifted (`--rps`) since the benchmark measures latency and
parallelism, not Tracker's quota. Requests are counted by the emulator.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import pstats
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
QUERY = "Queue: CPO, FULLSTACK"
SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
CORE_RATIO_MAX = 1.3
PREDECESSOR_RATIO_MAX = 0.5
STORAGE_MAX_BYTES = 20 * 2**20
INCREMENTAL_MAX_BYTES = 10 * 2**10  # "at most a few KB"
NO_CHANGE_MAX_S = 5.0
NO_CHANGE_MAX_REQUESTS = 2
PREDECESSOR_REPO = "Bambuk/exp1"
PREDECESSOR_DEPS = (
    "sqlalchemy[asyncio]<2.1", "alembic", "psycopg2-binary", "asyncpg", "pydantic",
    "pydantic-settings", "python-dotenv", "requests", "tqdm", "prometheus-client",
    "fasteners==0.20",
)  # fmt: skip
DAGSTER_YAML = "telemetry:\n  enabled: false\n"


# --------------------------------------------------------------------------- results


@dataclass
class Run:
    """One timed path on one organisation."""

    path: str
    issues: int
    wall: float | None = None
    requests: int | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.wall is not None


@dataclass
class Target:
    what: str
    value: str
    limit: str
    passed: bool | None  # None: not measured


@dataclass
class Report:
    runs: list[Run] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    storage: tuple[int | None, int | None] = (None, None)

    def run(self, path: str, issues: int) -> Run | None:
        found = [r for r in self.runs if r.path == path and r.issues == issues and r.ok]
        return found[0] if found else None


class PathFailed(RuntimeError):
    pass


# --------------------------------------------------------------------------- emulator


def _emulator_main(conn: Pipe, issues: int, seed: int, latency_ms: float, span: float) -> None:
    """Child process: generate the organisation, serve it from a thread, obey commands."""
    from radiator_assets.emulator import TrackerEmulator, generate_org

    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    org = generate_org(seed=seed, n_issues=issues, now=now, span_days=span)
    emulator = TrackerEmulator(org, latency=latency_ms / 1000.0).start()
    conn.send(
        {
            "base_url": emulator.base_url,
            "token": emulator.token,
            "org_id": emulator.org_id,
            "issues": sum(1 for _ in org.live()),
            "entries": org.changelog_entry_count,
            "first_day": (now - timedelta(days=span + 1)).date().isoformat(),
        }
    )
    try:
        while (command := conn.recv()) != "stop":
            if command == "reset":
                emulator.reset_requests()
                conn.send(True)
            elif command == "requests":
                conn.send(len(emulator.requests))
            elif command == "paths":
                conn.send(dict(emulator.counts_by_path()))
    finally:
        emulator.stop()
        conn.send([repr(e) for e in emulator.errors])


class EmulatorHost:
    """The emulator in a child process (its CPU is not the client's), driven over a pipe."""

    def __init__(self, issues: int, seed: int, latency_ms: float, span_days: float) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        args = (child, issues, seed, latency_ms, span_days)
        self._process = ctx.Process(target=_emulator_main, args=args, daemon=True)
        self._process.start()
        child.close()
        self.info: dict[str, Any] = self._conn.recv()

    def call(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def stop(self) -> None:
        errors: list[str] = []
        with suppress(OSError, EOFError):
            self._conn.send("stop")
            errors = self._conn.recv()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
        if errors:
            raise RuntimeError(f"the Tracker emulator failed while serving: {errors}")


@contextmanager
def emulator(issues: int, args: argparse.Namespace) -> Iterator[EmulatorHost]:
    print(f"emulator: generating {issues:,} issues...", flush=True)
    host = EmulatorHost(issues, args.seed, args.latency_ms, args.span_days)
    info = host.info
    print(f"  {info['issues']:,} issues, {info['entries']:,} entries since {info['first_day']}")
    try:
        yield host
    finally:
        host.stop()


# --------------------------------------------------------------------------- databases


class Databases:
    """Fresh databases on the local server, dropped at the end."""

    def __init__(self) -> None:
        self.admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        self.names: list[str] = []

    def create(self, what: str) -> str:
        name = f"radiator_bench_{what}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return SERVER.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()

    def version(self) -> str:
        with self.admin.connect() as conn:
            return str(conn.scalar(sa.text("SHOW server_version")))


def count_rows(url: str, table: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
    finally:
        engine.dispose()


def check_stored(url: str, host: EmulatorHost) -> str:
    """'' when the warehouse holds every issue and entry Tracker has, else what differs."""
    stored = (count_rows(url, "tracker_tasks"), count_rows(url, "tracker_changelog"))
    expected = (host.info["issues"], host.info["entries"])
    return "" if stored == expected else f"stored {stored}, Tracker has {expected}"


# --------------------------------------------------------------------------- environment


def clean_env() -> dict[str, str]:
    """This environment without any radiator, Tracker or Dagster setting."""
    prefixes = ("TRACKER_", "RADIATOR_", "DAGSTER_", "DATABASE_URL")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def radiator_env(host: EmulatorHost, url: str, home: Path, args: argparse.Namespace) -> dict:
    """What a user sets to point radiator at this Tracker and a fresh database."""
    info = host.info
    env = clean_env()
    env.update(
        TRACKER_API_URL=info["base_url"],
        TRACKER_TOKEN=info["token"],
        TRACKER_ORG_ID=info["org_id"],
        TRACKER_QUERY=QUERY,
        TRACKER_WORKERS=str(args.workers),
        TRACKER_RPS=str(args.rps),
        RADIATOR_HISTORY_START=info["first_day"],
        RADIATOR_DATABASE_URL=url,
        RADIATOR_HOME=str(home),
    )
    return env


def timed(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    """Run `cmd` to its end; its wall seconds. Output goes to `log`."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        rc = subprocess.run(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - started
    if rc != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise PathFailed(f"exit code {rc} ({log}): " + " | ".join(tail))
    return wall


def measured(host: EmulatorHost, run: Callable[[], float]) -> tuple[float, int]:
    """(wall seconds, requests Tracker received) of one path."""
    host.call("reset")
    wall = run()
    return wall, host.call("requests")


def request_paths(host: EmulatorHost) -> str:
    """The requests of the last path, by method and path."""
    paths: dict[str, int] = host.call("paths")
    return ", ".join(f"{p} x{n}" for p, n in sorted(paths.items(), key=lambda i: -i[1]))


def step_processes(log: Path) -> str:
    """From a `dagster asset materialize` console log (second resolution): how many step
    processes the run started and how long each took from launch to running ('' if none)."""
    launched: dict[str, datetime] = {}
    waits: list[float] = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(" - ")
        if len(parts) < 9 or parts[7] not in ("STEP_WORKER_STARTING", "STEP_WORKER_STARTED"):
            continue
        when = datetime.strptime(parts[0], "%Y-%m-%d %H:%M:%S %z")
        if parts[7] == "STEP_WORKER_STARTING":
            launched[parts[6]] = when
        elif parts[6] in launched:
            waits.append((when - launched[parts[6]]).total_seconds())
    if not waits:
        return ""  # the steps ran in the run's own process
    waits.sort()
    return (
        f"{len(waits)} step processes (one per asset and per check), "
        f"{waits[len(waits) // 2]:.0f} s median from launch to running, {sum(waits):.0f} s in all"
    )


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- core


def _core_child(env: dict[str, str], out: Pipe) -> None:
    """Spawned child: the sync core, configured as the product paths are."""
    try:
        os.environ.clear()
        os.environ.update(env)
        out.send(_core_sync())
    except BaseException as exc:
        out.send(RuntimeError(f"core sync failed: {type(exc).__name__}: {exc}"))
        raise


def _core_sync() -> float:
    from radiator_assets.metrics.config import load_configured_metrics_config
    from radiator_assets.settings import get_settings
    from radiator_assets.storage.engine import create_engine, normalise_url
    from radiator_assets.storage.migrations import upgrade
    from radiator_assets.sync.changelog import sync_changelogs
    from radiator_assets.sync.history import build_history
    from radiator_assets.sync.issues import sync_issues
    from radiator_assets.sync.locking import sync_lock
    from radiator_assets.tracker.client import TrackerClient

    settings = get_settings()
    engine = create_engine(normalise_url(os.environ["RADIATOR_DATABASE_URL"]))
    upgrade(engine)
    fields = load_configured_metrics_config(settings, allow_default=True).custom_fields
    started = time.perf_counter()
    with TrackerClient.from_settings(settings) as client, sync_lock(engine) as writer:
        sync_issues(
            writer,
            client,
            base_query=settings.tracker_query,
            fields=fields,
            overlap=timedelta(minutes=settings.sync_overlap_minutes),
            batch_size=settings.sync_batch_size,
        )
        sync_changelogs(writer, client)
        build_history(writer)
    wall = time.perf_counter() - started
    engine.dispose()
    return wall


def run_core(env: dict[str, str]) -> float:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_core_child, args=(env, child))
    process.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        result = PathFailed(f"the core sync died (exit code {process.exitcode})")
    process.join()
    if isinstance(result, BaseException):
        raise PathFailed(str(result))
    return float(result)


# --------------------------------------------------------------------------- README


@dataclass(frozen=True)
class ReadmeCommand:
    argv: list[str]  # as written, `dagster` first
    option: str  # --partition-range or --partition
    written: str  # the option's value as written


def readme_commands() -> dict[str, ReadmeCommand]:
    """The partitioned `dagster asset materialize` commands of "With a Dagster
    deployment": {"first": --partition-range one, "incremental": --partition one}."""
    text = README.read_text(encoding="utf-8")
    section = text.split("With a Dagster deployment", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    found: dict[str, ReadmeCommand] = {}
    for line in block.splitlines():
        argv = shlex.split(line, comments=True)
        if not argv or Path(argv[0]).name != "dagster" or argv[1:3] != ["asset", "materialize"]:
            continue
        for option, kind in (("--partition-range", "first"), ("--partition", "incremental")):
            if option in argv and kind not in found:
                found[kind] = ReadmeCommand(argv, option, argv[argv.index(option) + 1])
    missing = {"first", "incremental"} - set(found)
    if missing:
        raise RuntimeError(f"README.md's Dagster block has no {sorted(missing)} command")
    return found


def month_key(day: date) -> str:
    return day.replace(day=1).isoformat()


def partition_value(option: str, first_day: str) -> str:
    """The months the command covers: first = RADIATOR_HISTORY_START's, current = this one."""
    current = month_key(datetime.now(UTC).date())
    if option == "--partition":
        return current
    return f"{month_key(date.fromisoformat(first_day))}...{current}"


def shell_value(written: str, env: dict[str, str]) -> str:
    """What a shell makes of the README's value (variables, `$(...)`), run from the
    repository with this interpreter's venv as the README's `.venv`."""
    value = written.replace(".venv/bin/", f"{BIN}/")
    done = subprocess.run(
        ["bash", "-c", f'printf %s "{value}"'], env=env, cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout


def dagster_argv(cmd: ReadmeCommand, first_day: str) -> list[str]:
    argv = [str(BIN / "dagster"), *cmd.argv[1:]]
    argv[argv.index(cmd.option) + 1] = partition_value(cmd.option, first_day)
    return argv


def note_readme_values(report: Report, env: dict[str, str], first_day: str) -> None:
    for kind, cmd in readme_commands().items():
        as_shell = shell_value(cmd.written, env)
        ran = partition_value(cmd.option, first_day)
        if as_shell != ran:
            report.notes.append(
                f"README's {kind} command: {cmd.option} {cmd.written!r} gives {as_shell!r} "
                f"in a shell; the partitions are months, so the benchmark ran {ran!r}"
            )


# --------------------------------------------------------------------------- product paths


@dataclass
class Workspace:
    """A scratch folder per path: home, Dagster home, working directory, logs."""

    root: Path
    logs: Path

    def fresh(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))

    def log(self, name: str) -> Path:
        """A new log file (repeated runs keep each log)."""
        return Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=self.logs)[1])

    def dagster_home(self, name: str) -> Path:
        home = self.fresh(name)
        (home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
        return home


def radiator_sync(env: dict[str, str], cwd: Path, log: Path) -> float:
    return timed([str(BIN / "radiator"), "sync", "--no-reports"], env, cwd, log)


def run_radiator_paths(
    host: EmulatorHost, dbs: Databases, ws: Workspace, args: argparse.Namespace
) -> list[Run]:
    """A full `radiator sync --no-reports`, then a no-change one on the same data."""
    n = host.info["issues"]
    full, again = Run("radiator sync --no-reports", n), Run("no-change radiator sync", n)
    url = dbs.create("cli")
    home = ws.fresh(f"radiator-home-{n}")
    env = radiator_env(host, url, home, args)
    try:
        full.wall, full.requests = measured(
            host, lambda: radiator_sync(env, home, ws.log(f"radiator-sync-{n}"))
        )
        full.note = check_stored(url, host)
        again.wall, again.requests = measured(
            host, lambda: radiator_sync(env, home, ws.log(f"radiator-sync-again-{n}"))
        )
        again.note = request_paths(host)
    except PathFailed as exc:
        (again if full.ok else full).note = f"FAILED: {exc}"
    return [full, again]


def run_dagster_path(
    host: EmulatorHost, dbs: Databases, ws: Workspace, args: argparse.Namespace
) -> Run:
    n = host.info["issues"]
    run = Run("dagster asset materialize (README)", n)
    url = dbs.create("dagster")
    home = ws.fresh(f"dagster-cwd-{n}")
    env = radiator_env(host, url, home, args)
    env["DAGSTER_HOME"] = str(ws.dagster_home(f"dagster-home-{n}"))
    argv = dagster_argv(readme_commands()["first"], host.info["first_day"])
    log = ws.log(f"dagster-materialize-{n}")
    try:
        run.wall, run.requests = measured(host, lambda: timed(argv, env, home, log))
        run.note = check_stored(url, host) or step_processes(log)
    except PathFailed as exc:
        run.note = f"FAILED: {exc}"
    return run


def run_core_path(
    host: EmulatorHost, dbs: Databases, ws: Workspace, args: argparse.Namespace
) -> Run:
    n = host.info["issues"]
    run = Run("core (issues + changelogs + history)", n)
    url = dbs.create("core")
    env = radiator_env(host, url, ws.fresh(f"core-home-{n}"), args)
    try:
        run.wall, run.requests = measured(host, lambda: run_core(env))
        run.note = check_stored(url, host)
    except PathFailed as exc:
        run.note = f"FAILED: {exc}"
    return run


# --------------------------------------------------------------------------- predecessor


def predecessor_python(checkout: Path) -> Path:
    """The predecessor's venv interpreter, made with its dependencies on first use."""
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        print(f"predecessor: making {checkout / '.venv'}...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(checkout / ".venv")], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", *PREDECESSOR_DEPS]
        subprocess.run(pip, check=True)
    return python


def predecessor_env(host: EmulatorHost, url: str, args: argparse.Namespace) -> dict[str, str]:
    """Its own variables (radiator/core/config.py), the values of its env.example."""
    info = host.info
    env = clean_env()
    env.update(
        ENVIRONMENT="production",
        DATABASE_URL_SYNC=url.replace("postgresql+psycopg2://", "postgresql://"),
        DATABASE_URL=url.replace("postgresql+psycopg2://", "postgresql+asyncpg://"),
        TRACKER_API_TOKEN=info["token"],
        TRACKER_ORG_ID=info["org_id"],
        TRACKER_BASE_URL=info["base_url"] + "/v2/",
        TRACKER_MAX_WORKERS=str(args.workers),
        TRACKER_REQUEST_DELAY=str(args.predecessor_delay),
    )
    return env


def run_predecessor(
    host: EmulatorHost, dbs: Databases, ws: Workspace, args: argparse.Namespace
) -> Run:
    n = host.info["issues"]
    run = Run("predecessor (radiator CLI)", n)
    checkout: Path = args.predecessor
    try:
        python = predecessor_python(checkout)
        url = dbs.create("predecessor")
        env = predecessor_env(host, url, args)
        alembic = [str(python), "-m", "alembic", "upgrade", "head"]
        timed(alembic, env, checkout, ws.log(f"predecessor-migrate-{n}"))
        sync = [str(python), "-m", "radiator.commands.sync_tracker", "--filter", QUERY]
        log = ws.log(f"predecessor-sync-{n}")
        run.wall, run.requests = measured(host, lambda: timed(sync, env, checkout, log))
        tasks = count_rows(url, "tracker_tasks")
        run.note = "" if tasks == host.info["issues"] else f"stored {tasks} issues"
    except (PathFailed, subprocess.CalledProcessError, OSError) as exc:
        run.note = f"FAILED: {exc}"
    return run


def predecessor_missing(args: argparse.Namespace) -> str:
    """Why the predecessor cannot be measured ('' when it can)."""
    if args.predecessor is None:
        return (
            f"not measured: no --predecessor DIR (a checkout of {PREDECESSOR_REPO}, the "
            "predecessor's public source; it runs against the emulator via TRACKER_BASE_URL)"
        )
    if not (args.predecessor / "radiator" / "commands" / "sync_tracker.py").exists():
        return f"not measured: {args.predecessor} holds no radiator/commands/sync_tracker.py"
    return ""


# --------------------------------------------------------------------------- storage


def storage_runs(
    host: EmulatorHost, dbs: Databases, ws: Workspace, args: argparse.Namespace, report: Report
) -> tuple[int, int, Run]:
    """(bytes after the README's first sync, bytes the no-change incremental adds, its run)."""
    n = host.info["issues"]
    url = dbs.create("storage")
    cwd = ws.fresh(f"storage-cwd-{n}")
    dagster_home = ws.dagster_home(f"storage-dagster-home-{n}")
    env = radiator_env(host, url, cwd, args) | {"DAGSTER_HOME": str(dagster_home)}
    commands = readme_commands()
    first = dagster_argv(commands["first"], host.info["first_day"])
    timed(first, env, cwd, ws.log(f"storage-first-{n}"))
    after_first = dir_bytes(dagster_home)
    incremental = dagster_argv(commands["incremental"], host.info["first_day"])
    run = Run("no-change dagster incremental (README)", n)
    log = ws.log(f"storage-incremental-{n}")
    run.wall, run.requests = measured(host, lambda: timed(incremental, env, cwd, log))
    run.note = step_processes(log)
    note_readme_values(report, env, host.info["first_day"])
    return after_first, dir_bytes(dagster_home) - after_first, run


# --------------------------------------------------------------------------- profile


def profile_radiator_sync(
    host: EmulatorHost, dbs: Databases, ws: Workspace, args: argparse.Namespace
) -> str:
    """Top cumulative entries of a full `radiator sync --no-reports` under cProfile."""
    url = dbs.create("profile")
    home = ws.fresh("profile-home")
    env = radiator_env(host, url, home, args)
    out = ws.logs / "radiator-sync.prof"
    argv = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "radiator_assets.cli"]
    timed([*argv, "sync", "--no-reports"], env, home, ws.log("radiator-sync-profile"))
    stream = io.StringIO()
    stats = pstats.Stats(str(out), stream=stream)
    stream.write(profile_summary(stats))
    stats.strip_dirs().sort_stats("cumulative").print_stats(args.profile_lines)
    return stream.getvalue()


# Where a product run's time goes: (label, file suffix, function) of cProfile entries.
PROFILE_PARTS = (
    ("whole command", "radiator_assets/cli.py", "main"),
    ("  imports (top level)", "<frozen importlib._bootstrap>", "_find_and_load"),
    ("  warehouse migrations", "storage/migrations.py", "ensure_migrated"),
    ("  Dagster instance set-up", "dagster/_core/instance/instance.py", "get"),
    ("  Dagster run (execute_in_process)", "definitions/job_definition.py", "execute_in_process"),
    ("    sync_issues", "sync/issues.py", "sync_issues"),
    ("    sync_changelogs", "sync/changelog.py", "sync_changelogs"),
    ("    build_history", "sync/history.py", "build_history"),
    ("    Dagster events stored (SQLite)", "event_log/sqlite/sqlite_event_log.py", "store_event"),
)  # fmt: skip


def profile_summary(stats: pstats.Stats) -> str:
    """Cumulative seconds (and calls) of the entries in PROFILE_PARTS."""
    found: dict[str, tuple[float, int]] = {}
    for (path, _line, func), (_cc, calls, _tt, cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for label, suffix, name in PROFILE_PARTS:
            if func == name and path.endswith(suffix) and cum > found.get(label, (0.0, 0))[0]:
                found[label] = (cum, calls)
    lines = [f"{label:<42} {found[label][0]:7.1f} s  ({found[label][1]} calls)"
             for label, _s, _n in PROFILE_PARTS if label in found]  # fmt: skip
    return "\n".join(["where the time goes (cumulative, under cProfile):", *lines, "", ""])


# --------------------------------------------------------------------------- targets


def ratio(run: Run | None, base: Run | None) -> float | None:
    if run is None or base is None or not base.wall or run.wall is None:
        return None
    return run.wall / base.wall


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def add_ratio_targets(report: Report, sizes: list[int]) -> None:
    for n in sizes:
        core = report.run("core (issues + changelogs + history)", n)
        for path in ("radiator sync --no-reports", "dagster asset materialize (README)"):
            r = ratio(report.run(path, n), core)
            value = "not measured" if r is None else f"{r:.2f}x core"
            passed = None if r is None else r <= CORE_RATIO_MAX
            report.targets.append(Target(f"{path}, {n:,}", value, f"<= {CORE_RATIO_MAX}x", passed))
    n = max(sizes)
    pred = report.run("predecessor (radiator CLI)", n)
    for path in ("radiator sync --no-reports", "dagster asset materialize (README)"):
        r = ratio(report.run(path, n), pred)
        value = "predecessor not measured" if r is None else f"{r:.2f}x predecessor"
        passed = None if r is None else r <= PREDECESSOR_RATIO_MAX
        limit = f"<= {PREDECESSOR_RATIO_MAX}x"
        report.targets.append(Target(f"{path} vs predecessor, {n:,}", value, limit, passed))


def add_no_change_targets(report: Report, sizes: list[int]) -> None:
    for n in sizes:
        run = report.run("no-change radiator sync", n)
        if run is None:
            report.targets.append(Target(f"no-change radiator sync, {n:,}", "failed", "", False))
            continue
        report.targets.append(
            Target(
                f"no-change radiator sync, {n:,}: wall",
                f"{run.wall:.1f} s",
                f"< {NO_CHANGE_MAX_S:g} s",
                run.wall < NO_CHANGE_MAX_S,
            )
        )
        report.targets.append(
            Target(
                f"no-change radiator sync, {n:,}: requests",
                str(run.requests),
                f"<= {NO_CHANGE_MAX_REQUESTS}",
                (run.requests or 0) <= NO_CHANGE_MAX_REQUESTS,
            )
        )


def add_storage_targets(report: Report, n: int, first: int | None, added: int | None) -> None:
    if first is None or added is None:
        report.targets.append(Target(f"Dagster storage, {n:,} issues", "failed", "", False))
        return
    report.targets.append(
        Target(
            f"Dagster storage after the README's first sync, {n:,} issues",
            f"{first / 2**20:.1f} MB",
            f"<= {STORAGE_MAX_BYTES / 2**20:g} MB",
            first <= STORAGE_MAX_BYTES,
        )
    )
    report.targets.append(
        Target(
            "  ... added by a no-change incremental run (README)",
            f"{added / 2**10:.1f} KB",
            f"<= {INCREMENTAL_MAX_BYTES / 2**10:g} KB",
            added <= INCREMENTAL_MAX_BYTES,
        )
    )


# --------------------------------------------------------------------------- printing


def print_runs(report: Report) -> None:
    print(f"{'path':<40} {'issues':>7} {'wall s':>8} {'x core':>7} {'requests':>9}  note")
    for run in report.runs:
        core = report.run("core (issues + changelogs + history)", run.issues)
        r = ratio(run, core) if run.path.startswith(("radiator", "dagster", "pred")) else None
        wall = "-" if run.wall is None else f"{run.wall:.1f}"
        x = "" if r is None else f"{r:.2f}"
        req = "" if run.requests is None else f"{run.requests:,}"
        print(f"{run.path:<40} {run.issues:>7,} {wall:>8} {x:>7} {req:>9}  {run.note}")


def print_targets(report: Report) -> None:
    print(f"\n{'target (issue 9)':<62} {'measured':>22} {'limit':>9}  verdict")
    for t in report.targets:
        print(f"{t.what:<62} {t.value:>22} {t.limit:>9}  {verdict(t.passed)}")


def print_report(report: Report, args: argparse.Namespace, version: str) -> None:
    print()
    print(
        f"Product paths against the sync core: emulator (profile full) at {args.latency_ms:g} ms "
        f"per request, TRACKER_WORKERS={args.workers}, TRACKER_RPS={args.rps:g} (lifted), "
        f"PostgreSQL {version}, {os.cpu_count()} CPUs shared by client, emulator and database"
    )
    print(
        "wall = whole process for radiator sync, dagster and the predecessor (start-up, "
        "migrations, Dagster included); the core's sync alone, its database migrated before; "
        f"requests = what the emulator received; best of {args.repeat} run(s) per path; load "
        f"average {args.load_before} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print()
    print_runs(report)
    print_targets(report)
    for note in report.notes:
        print(f"* {note}")


# --------------------------------------------------------------------------- main


def measure_size(
    n: int, dbs: Databases, ws: Workspace, args: argparse.Namespace, report: Report
) -> None:
    with emulator(n, args) as host:
        runs: list[Run] = []
        for i in range(1, args.repeat + 1):
            runs.extend(measure_paths(host, dbs, ws, args, f"  [{i}/{args.repeat}]"))
        report.runs.extend(best_of(runs))
        if args.profile and n == max(args.sizes):
            print("  radiator sync under cProfile...", flush=True)
            args.profile_text = profile_radiator_sync(host, dbs, ws, args)


def measure_paths(
    host: EmulatorHost, dbs: Databases, ws: Workspace, args: argparse.Namespace, tag: str
) -> list[Run]:
    """Each path once, one after the other, on the same emulated organisation."""
    print(f"{tag} core...", flush=True)
    runs = [run_core_path(host, dbs, ws, args)]
    print(f"{tag} radiator sync --no-reports, then again with no change...", flush=True)
    runs.extend(run_radiator_paths(host, dbs, ws, args))
    print(f"{tag} dagster asset materialize (README's first sync)...", flush=True)
    runs.append(run_dagster_path(host, dbs, ws, args))
    if not predecessor_missing(args):
        print(f"{tag} predecessor...", flush=True)
        runs.append(run_predecessor(host, dbs, ws, args))
    return runs


def best_of(runs: list[Run]) -> list[Run]:
    """Per path, the fastest of its repetitions (a failed one only if all failed)."""
    best: dict[str, Run] = {}
    for run in runs:
        kept = best.get(run.path)
        if kept is None or faster(run, kept):
            best[run.path] = run
    return list(best.values())


def faster(run: Run, than: Run) -> bool:
    if run.wall is None:
        return False
    return than.wall is None or run.wall < than.wall


def measure_storage(
    dbs: Databases, ws: Workspace, args: argparse.Namespace, report: Report
) -> None:
    n = args.storage_issues
    with emulator(n, args) as host:
        print("  README's first sync, then its no-change incremental...", flush=True)
        try:
            first, added, run = storage_runs(host, dbs, ws, args, report)
        except PathFailed as exc:
            report.notes.append(f"storage measurement failed: {exc}")
            return
    report.runs.append(run)
    report.storage = (first, added)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issues", default="1000,3000", help="sizes (default 1000,3000)")
    parser.add_argument("--storage-issues", type=int, default=400, help="for storage (400)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="per request (20)")
    parser.add_argument("--workers", type=int, default=10, help="TRACKER_WORKERS (10)")
    parser.add_argument("--rps", type=float, default=100_000.0, help="TRACKER_RPS (lifted)")
    parser.add_argument("--span-days", type=float, default=720.0, help="org's age (720)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--predecessor",
        type=Path,
        default=os.environ.get("RADIATOR_PREDECESSOR_DIR") or None,
        help=f"checkout of the predecessor ({PREDECESSOR_REPO}); env RADIATOR_PREDECESSOR_DIR",
    )
    parser.add_argument(
        "--predecessor-delay",
        type=float,
        default=0.1,
        help="its TRACKER_REQUEST_DELAY, seconds slept after each request (0.1, env.example)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per path; best kept (1)")
    parser.add_argument("--profile", action="store_true", help="cProfile radiator sync")
    parser.add_argument("--profile-lines", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="one size, 300 issues")
    parser.add_argument("--keep", action="store_true", help="keep logs and Dagster homes")
    args = parser.parse_args(argv)
    args.sizes = [300] if args.quick else [int(s) for s in args.issues.split(",") if s.strip()]
    args.profile_text = ""
    args.load_before = f"{os.getloadavg()[0]:.1f}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report()
    started = time.perf_counter()
    dbs = Databases()
    root = Path(tempfile.mkdtemp(prefix="bench-product-path-"))
    ws = Workspace(root, root / "logs")
    ws.logs.mkdir()
    try:
        version = dbs.version()
        for n in args.sizes:
            measure_size(n, dbs, ws, args, report)
        measure_storage(dbs, ws, args, report)
    finally:
        dbs.drop_all()
    if missing := predecessor_missing(args):
        report.notes.append(f"predecessor {missing}")
    add_ratio_targets(report, args.sizes)
    add_no_change_targets(report, args.sizes)
    add_storage_targets(report, args.storage_issues, *report.storage)
    print_report(report, args, version)
    if args.profile_text:
        print(f"\nradiator sync --no-reports, {max(args.sizes):,} issues, under cProfile:")
        print(args.profile_text)
    failed = any(r.note.startswith("FAILED") for r in report.runs)
    if args.keep or failed:
        print(f"logs: {ws.logs}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    print(f"total benchmark time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
