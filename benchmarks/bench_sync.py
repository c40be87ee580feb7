"""Benchmark: ingestion (issues, changelog, status history) against the Tracker emulator.

    python benchmarks/bench_sync.py [--issues 10000] [--small-issues 2000]
        [--latency-ms 20] [--workers 8] [--max-in-flight N] [--sweep 2,4,16]
        [--dup-rows 1000000] [--quick] [--keep]

Run by hand, not in CI (about 4 minutes on 2 CPUs; --quick: about 1); prints a table.
What it does, in one run:

1. Full sync (the first sync, nothing stored yet) of `--small-issues` and then of
   `--issues` issues (emulator profile "full", about 20 changelog entries per
   issue), then an incremental sync after the emulator's clock moved on and 1% of
   the issues got two new entries each. Every sync is the project's own write path
   (`sync_issues`, `sync_changelogs`, `build_history` with a `TrackerClient`) in a
   fresh process, so the peak RSS printed is that sync's own. The small org's full
   sync is repeated at the `--sweep` worker counts, with a wider client
   `max_in_flight`, and without latency (what the CPUs alone allow). Fetching runs
   alongside the writes (a producer thread per phase): "waiting" is the writer idle
   for fetches. Each sync prints its CPU split (client, emulator, the sync's own
   PostgreSQL backends) and the machine's load average: on a shared 2-CPU machine
   those say whether the CPUs or the network set the wall time.
2. Baselines, on the same data, in the same run (the predecessor's approach):
   * history written as one ORM object per row (`session.add`, one commit; also
     unbatched and commit-per-row variants on a sample) against the bulk paths
     (`history_writer.upsert_stays`, and the SQL rebuild `build_history`), all
     writing the very same stays, and the floor of writing them at all: the finished
     stays inserted in one INSERT ... SELECT, into the real table and into one without
     indexes or foreign key (what index maintenance costs), and COPY;
   * duplicate detection by loading the whole history table into Python (ORM
     objects, and plain tuples) against the SQL check `quality.duplicate_stays`,
     on the history replicated to `--dup-rows` rows with some duplicates seeded,
     each in a fresh process (time, RSS growth).

The emulator is a thread-run `TrackerEmulator` inside a child process this script
drives over a pipe (to add changes between syncs), so its CPU and memory are not
the client's. The database is a fresh one on RADIATOR_DATABASE_URL's server, else
postgres@127.0.0.1:5432 (trust auth), migrated to head and dropped at the end
unless --keep. The client's rate limit is lifted (the benchmark measures latency
and parallelism, not Tracker's quota).
"""

from __future__ import annotations

import argparse
import io
import math
import multiprocessing as mp
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radiator_assets.metrics.config import CustomFields  # noqa: E402
from radiator_assets.storage.engine import create_engine, normalise_url  # noqa: E402
from radiator_assets.storage.history_writer import upsert_stays  # noqa: E402
from radiator_assets.storage.migrations import upgrade  # noqa: E402
from radiator_assets.storage.models import TrackerTaskHistory  # noqa: E402
from radiator_assets.storage.quality import duplicate_stays  # noqa: E402
from radiator_assets.storage.unit_of_work import unit_of_work  # noqa: E402
from radiator_assets.sync.changelog import sync_changelogs  # noqa: E402
from radiator_assets.sync.history import build_history  # noqa: E402
from radiator_assets.sync.issues import sync_issues  # noqa: E402
from radiator_assets.sync.locking import sync_lock  # noqa: E402
from radiator_assets.tracker.client import TrackerClient  # noqa: E402

QUERY = "Queue: CPO, FULLSTACK"
FIELDS = CustomFields(team="team", product_team="prodteam")
HISTORY_COLUMNS = (
    "task_id", "tracker_id", "status_key", "status", "status_display", "start_date", "end_date",
)  # fmt: skip
UNIQUE_STAY = "uq_tracker_task_history_task_id_status_start_date"
# Everything a sync writes, the listing mark included (else the next "full" sync is incremental).
TABLES = (
    "tracker_task_history, tracker_changelog, tracker_tasks, tracker_sync_runs, "
    "tracker_sync_state, tracker_quarantine"
)


# --------------------------------------------------------------------------- helpers


def server_url() -> sa.URL:
    raw = (
        os.environ.get("RADIATOR_DATABASE_URL")
        or "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    )
    return normalise_url(raw).set(database="postgres")


def admin(url: sa.URL) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def _proc_status(field: str) -> float:
    """A `VmXXX:` line of /proc/self/status, in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mb() -> float:
    return _proc_status("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM, not inherited across exec)."""
    return _proc_status("VmHWM")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def load_average() -> float:
    """The machine's 1-minute load average (other engineers' work shows here)."""
    return os.getloadavg()[0]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU of the PostgreSQL backends serving one engine's connections (the server runs on
    this machine): each new connection's backend pid is noted; the CPU they used between
    `start()` and `used()` is the database's share of a sync."""

    def __init__(self, engine: sa.Engine) -> None:
        self.pids: set[int] = set()
        self._start: dict[int, float] = {}
        sa.event.listen(engine.pool, "connect", self._note)

    def _note(self, dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pids.add(int(cursor.fetchone()[0]))

    def start(self) -> None:
        self._start = {pid: process_cpu_seconds(pid) for pid in self.pids}

    def used(self) -> float:
        return sum(process_cpu_seconds(pid) - self._start.get(pid, 0.0) for pid in self.pids)


def run_in_child(target: Callable[..., None], *args: Any) -> Any:
    """Run `target(*args, out)` in a fresh (spawned) interpreter; return what it sends."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(*args, child))
    process.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"{target.__name__} died (exit code {process.exitcode})") from None
    process.join()
    if isinstance(result, BaseException):
        raise result
    return result


def fmt_int(n: float) -> str:
    return f"{int(n):,}"


# --------------------------------------------------------------------------- emulator


def _emulator_main(conn: Pipe, issues: int, seed: int, latency_ms: float) -> None:
    """Child process: generate the org, serve it from a thread, obey commands."""
    from radiator_assets.emulator import TrackerEmulator, generate_org

    started = time.perf_counter()
    org = generate_org(seed=seed, n_issues=issues, profile="full")
    generated = time.perf_counter() - started
    emulator = TrackerEmulator(org, latency=latency_ms / 1000.0).start()
    conn.send(
        {
            "base_url": emulator.base_url,
            "token": emulator.token,
            "org_id": emulator.org_id,
            "issues": sum(1 for _ in org.live()),
            "entries": org.changelog_entry_count,
            "generate_s": generated,
        }
    )
    try:
        while True:
            command, kwargs = conn.recv()
            if command == "stop":
                break
            if command == "change":
                emulator.advance_clock(timedelta(hours=kwargs["hours"]))
                changed = emulator.add_changes(
                    kwargs["issues"], kind="auto", per_issue=kwargs["per_issue"]
                )
                conn.send(changed)
            elif command == "requests":
                kinds: Counter[str] = Counter()
                for r in emulator.requests:
                    if r.path.endswith("/changelog"):
                        kinds["changelog"] += 1
                    elif r.path.endswith("/issues/_search"):
                        kinds["search"] += 1
                    elif r.path.endswith("/scroll/_clear"):
                        kinds["scroll clear"] += 1
                    else:
                        kinds[r.path] += 1
                conn.send(dict(kinds))
            elif command == "reset":
                emulator.reset_requests()
                conn.send(True)
            elif command == "latency":
                emulator.latency = kwargs["ms"] / 1000.0
                conn.send(True)
            elif command == "cpu":
                times = os.times()
                conn.send(times.user + times.system)
            elif command == "entries":
                conn.send(org.changelog_entry_count)
    finally:
        emulator.stop()
        conn.send([repr(e) for e in emulator.errors])


class EmulatorHost:
    """The emulator child process, driven over a pipe."""

    def __init__(self, issues: int, seed: int, latency_ms: float) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_emulator_main, args=(child, issues, seed, latency_ms), daemon=True
        )
        self._process.start()
        child.close()
        self.info: dict[str, Any] = self._conn.recv()
        self.errors: list[str] = []

    def call(self, command: str, **kwargs: Any) -> Any:
        self._conn.send((command, kwargs))
        return self._conn.recv()

    def stop(self) -> None:
        if not self._process.is_alive():
            return
        with suppress(OSError, EOFError):
            self._conn.send(("stop", {}))
            self.errors = self._conn.recv()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)
        if self.errors:
            raise RuntimeError(f"the Tracker emulator failed while serving: {self.errors}")

    def __enter__(self) -> EmulatorHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- syncs


def _sync_child(
    url: str, emulator: dict[str, Any], workers: int, max_in_flight: int | None, out: Pipe
) -> None:
    """Child process: one sync (issues, changelog, history) through the project's path."""
    try:
        engine = create_engine(sa.make_url(url))
        database_cpu = BackendCpu(engine)
        with engine.connect() as conn:  # the pool's first connection is not the sync's cost
            conn.execute(sa.text("SELECT 1"))
        start_rss = rss_mb()
        reset_peak_rss()
        client = TrackerClient(
            base_url=emulator["base_url"],
            token=emulator["token"],
            org_id=emulator["org_id"],
            workers=workers,
            max_in_flight=max_in_flight,
            requests_per_second=100_000.0,
            rate_burst=1_000.0,
            trust_env=False,
        )
        seconds: dict[str, float] = {}
        requests: dict[str, float] = {}
        cpu_before = os.times()
        machine_before = machine_cpu_seconds()
        load_before = load_average()
        database_cpu.start()
        started = time.perf_counter()
        with client, sync_lock(engine) as writer:
            mark, before = time.perf_counter(), client.counters.snapshot()
            issues = sync_issues(writer, client, base_query=QUERY, fields=FIELDS)
            seconds["issues"] = time.perf_counter() - mark
            requests["issues"] = client.counters.since(before)["requests"]
            mark, before = time.perf_counter(), client.counters.snapshot()
            changelog = sync_changelogs(writer, client)
            seconds["changelog"] = time.perf_counter() - mark
            requests["changelog"] = client.counters.since(before)["requests"]
            mark = time.perf_counter()
            history = build_history(writer)
            seconds["history"] = time.perf_counter() - mark
            traffic = client.counters.snapshot()
        wall = time.perf_counter() - started
        cpu_after = os.times()
        machine_after = machine_cpu_seconds()
        database_seconds = database_cpu.used()
        engine.dispose()
        out.send(
            {
                "wall": wall,
                "seconds": seconds,
                "requests_by_phase": requests,
                "requests": int(traffic["requests"]),
                "retries": int(traffic["retries"]),
                "throttled": int(traffic["throttled"]),
                "mib_received": traffic["bytes_received"] / 2**20,
                "issues_seen": issues.seen,
                "issues_written": issues.inserted + issues.updated,
                "issues_unchanged": issues.unchanged,
                "tasks_pending": changelog.tasks_pending,
                "entries": changelog.entries_inserted,
                "stays": history.stays_written,
                "tasks_rebuilt": history.tasks_rebuilt,
                "start_rss": start_rss,
                "peak_rss": peak_rss_mb(),
                "cpu": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
                "database_cpu": database_seconds,
                "load": (load_before, load_average()),
                "machine_busy": (machine_after[0] - machine_before[0])
                / max(machine_after[1] - machine_before[1], 1e-9),
                # fetching runs alongside the writes: "waiting" is the writer idle for it
                "split": {
                    "issues waiting for the listing": issues.seconds["fetch"],
                    "issues write": issues.seconds["write"],
                    "changelog waiting for fetches": changelog.seconds["fetch"],
                    "changelog write": changelog.seconds["write"],
                },
            }
        )
    except BaseException as exc:
        out.send(RuntimeError(f"sync failed: {type(exc).__name__}: {exc}"))
        raise


def run_sync(
    url: str, host: EmulatorHost, workers: int, max_in_flight: int | None = None
) -> dict[str, Any]:
    host.call("reset")
    emulator_cpu = host.call("cpu")
    result = run_in_child(_sync_child, url, host.info, workers, max_in_flight)
    result["emulator_cpu"] = host.call("cpu") - emulator_cpu
    result["emulator_requests"] = host.call("requests")
    return result


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.text(sql)) or 0)


# --------------------------------------------------------------------------- history writes


def _fingerprint(engine: sa.Engine) -> tuple[int, int]:
    """(rows, an order-independent hash of their content) of tracker_task_history."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT count(*), coalesce(sum(hashtext(concat_ws('|', task_id, tracker_id, "
                "status_key, status, status_display, start_date, end_date))::bigint), 0) "
                "FROM tracker_task_history"
            )
        ).one()
    return int(row[0]), int(row[1])


def _empty_history(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE tracker_task_history RESTART IDENTITY"))


def _orm_write(engine: sa.Engine, rows: list[dict[str, Any]], *, commit_each: bool = False) -> None:
    """The predecessor's shape: one ORM object per stay, `session.add`, commit (once at the
    end, or after every row)."""
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        for row in rows:
            session.add(TrackerTaskHistory(**row))
            if commit_each:
                session.commit()
        session.commit()


def _bulk_upsert(engine: sa.Engine, rows: list[dict[str, Any]], batch: int = 5000) -> None:
    """The project's bulk writer: multi-row INSERT ... ON CONFLICT, one transaction per batch."""
    for i in range(0, len(rows), batch):
        with unit_of_work(engine) as conn:
            upsert_stays(conn, rows[i : i + batch])  # type: ignore[arg-type]


def _bulk_upsert_returning(
    engine: sa.Engine, rows: list[dict[str, Any]], batch: int = 5000
) -> None:
    """NOT the project's code: `upsert_stays`' statement plus `RETURNING id`, which puts it
    back on SQLAlchemy's multi-row insertmanyvalues path (2.1 turns that off for
    INSERT ... ON CONFLICT without RETURNING, sqlalchemy#13130, and psycopg2's
    executemany then sends one statement per row)."""
    from sqlalchemy.dialects.postgresql import insert

    history = TrackerTaskHistory.__table__
    stmt = insert(history)
    stmt = stmt.on_conflict_do_update(
        constraint=UNIQUE_STAY,
        set_={
            "end_date": stmt.excluded.end_date,
            "status_key": stmt.excluded.status_key,
            "status_display": stmt.excluded.status_display,
            "tracker_id": stmt.excluded.tracker_id,
        },
    ).returning(history.c.id)
    for i in range(0, len(rows), batch):
        with unit_of_work(engine) as conn:
            conn.execute(stmt, rows[i : i + batch]).all()


def _copy_rows(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    """NOT the project's code: COPY FROM STDIN, the fastest way in from Python."""

    def text(value: Any) -> str:
        if value is None:
            return "\\N"
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(text(row[c]) for c in HISTORY_COLUMNS) + "\n")
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(
                f"COPY tracker_task_history ({', '.join(HISTORY_COLUMNS)}) FROM STDIN", buffer
            )
        raw.commit()
    finally:
        raw.close()


FINISHED_STAYS = "bench_finished_stays"  # the reference stays, kept aside for the floors
BARE_STAYS = "bench_bare_stays"  # the same columns, no index, no constraint


def _keep_finished_stays(engine: sa.Engine) -> None:
    columns = ", ".join(HISTORY_COLUMNS)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"CREATE TABLE {FINISHED_STAYS} AS SELECT {columns} FROM tracker_task_history")
        )
        conn.execute(sa.text(f"CREATE TABLE {BARE_STAYS} AS TABLE {FINISHED_STAYS} WITH NO DATA"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM ANALYZE {FINISHED_STAYS}"))


def _drop_finished_stays(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {FINISHED_STAYS}, {BARE_STAYS}"))


def _insert_finished(engine: sa.Engine, table: str) -> None:
    """NOT the project's code: the finished stays inserted set-based in one statement, the
    floor of any way of writing them (nothing to derive, no round trip per row)."""
    columns = ", ".join(HISTORY_COLUMNS)
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL jit = off"))
        conn.execute(
            sa.text(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {FINISHED_STAYS}")
        )


def _sql_rebuild(engine: sa.Engine) -> int:
    """The sync's own path: the stale tasks' stays recomputed from the stored changelog."""
    with sync_lock(engine) as writer:
        return build_history(writer).stays_written


def history_write_benchmark(
    engine: sa.Engine, url: sa.URL, sample: int
) -> dict[str, dict[str, Any]]:
    """Every approach writes the stays the sync built into an emptied table; the
    per-row-round-trip variants write the first `sample` of them."""
    with engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    f"SELECT {', '.join(HISTORY_COLUMNS)} FROM tracker_task_history "
                    "ORDER BY task_id, start_date"
                )
            )
        ]
    reference = _fingerprint(engine)
    # SQLAlchemy >= 1.4 batches the ORM's INSERTs (insertmanyvalues); without it, one INSERT
    # ... RETURNING per object, as SQLAlchemy 1.3 did.
    unbatched = sa.create_engine(url, use_insertmanyvalues=False, poolclass=sa.NullPool)
    part = rows[:sample]
    cases: dict[str, tuple[str, Callable[[], Any], int]] = {
        "orm": (
            "ORM: session.add per row, one commit",
            lambda: _orm_write(engine, rows),
            len(rows),
        ),
        "orm_unbatched": (
            f"ORM unbatched (1 INSERT per row, as SQLAlchemy 1.3), one commit [{len(part):,}]",
            lambda: _orm_write(unbatched, part),
            len(part),
        ),
        "orm_commit_each": (
            f"ORM: session.add + commit per row [{len(part):,}]",
            lambda: _orm_write(engine, part, commit_each=True),
            len(part),
        ),
        "upsert": (
            "bulk: history_writer.upsert_stays",
            lambda: _bulk_upsert(engine, rows),
            len(rows),
        ),
        "rebuild": (
            "bulk: SQL rebuild, sync.history.build_history",
            lambda: _sql_rebuild(engine),
            len(rows),
        ),
        "floor_insert": (
            "(not the project's) floor: INSERT ... SELECT of the finished stays",
            lambda: _insert_finished(engine, "tracker_task_history"),
            len(rows),
        ),
        "floor_bare": (
            "(not the project's) floor: the same into a table without indexes or FK",
            lambda: _insert_finished(engine, BARE_STAYS),
            len(rows),
        ),
        "upsert_returning": (
            "(not the project's) upsert_stays' SQL + RETURNING id",
            lambda: _bulk_upsert_returning(engine, rows),
            len(rows),
        ),
        "copy": (
            "(not the project's) COPY FROM STDIN",
            lambda: _copy_rows(engine, rows),
            len(rows),
        ),
    }
    results: dict[str, dict[str, Any]] = {}
    _keep_finished_stays(engine)
    try:
        for key, (label, action, n) in cases.items():
            _empty_history(engine)
            if key == "rebuild":  # setup, not timed: every task's stays are to be rebuilt
                with engine.begin() as conn:
                    conn.execute(sa.text("UPDATE tracker_tasks SET history_stale = true"))
            started = time.perf_counter()
            action()
            seconds = time.perf_counter() - started
            written = _fingerprint(engine)
            if key == "floor_bare":
                same = count(engine, f"SELECT count(*) FROM {BARE_STAYS}") == n
            else:
                same = written == reference if n == len(rows) else written[0] == n
            results[key] = {"label": label, "rows": n, "seconds": seconds, "same": same}
            results[key]["rate"] = n / seconds
    finally:
        unbatched.dispose()
        _drop_finished_stays(engine)
    if _fingerprint(engine) != reference:
        raise RuntimeError("the history left after the write benchmark differs from the sync's")
    return results


# --------------------------------------------------------------------------- duplicate check


def _dup_child(url: str, what: str, out: Pipe) -> None:
    """Child process: find duplicate stays one way; time and RSS growth."""
    from sqlalchemy.orm import Session

    try:
        engine = create_engine(sa.make_url(url))
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        start_rss = rss_mb()
        reset_peak_rss()
        started = time.perf_counter()
        if what == "sql":
            with engine.connect() as conn:
                found = duplicate_stays(conn).count
            loaded = 0
        else:
            groups: dict[tuple[Any, Any, Any], int] = {}
            if what == "orm":
                with Session(engine) as session:
                    rows: list[Any] = list(session.scalars(sa.select(TrackerTaskHistory)).all())
                    for stay in rows:
                        key = (stay.task_id, stay.status, stay.start_date)
                        groups[key] = groups.get(key, 0) + 1
            else:
                history = TrackerTaskHistory.__table__
                with engine.connect() as conn:
                    rows = conn.execute(sa.select(history)).all()
                for row in rows:
                    key = (row.task_id, row.status, row.start_date)
                    groups[key] = groups.get(key, 0) + 1
            loaded = len(rows)
            found = sum(1 for copies in groups.values() if copies > 1)
        seconds = time.perf_counter() - started
        out.send(
            {
                "seconds": seconds,
                "found": found,
                "loaded": loaded,
                "growth": peak_rss_mb() - start_rss,
            }
        )
    except BaseException as exc:
        out.send(RuntimeError(f"duplicate check {what} failed: {type(exc).__name__}: {exc}"))
        raise


def prepare_duplicates(engine: sa.Engine, target_rows: int, seeded: int) -> tuple[int, int]:
    """Turn tracker_task_history into the predecessor's shape (no unique constraint),
    replicate it to about `target_rows` with shifted dates, seed `seeded` duplicates."""
    base = count(engine, "SELECT count(*) FROM tracker_task_history")
    copies = max(0, math.ceil(target_rows / max(base, 1)) - 1)
    columns = ", ".join(HISTORY_COLUMNS)
    shifted = columns.replace("start_date", "start_date + k * interval '1 microsecond'").replace(
        "end_date", "end_date + k * interval '1 microsecond'"
    )
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE tracker_task_history DROP CONSTRAINT {UNIQUE_STAY}"))
        # the emulator's timestamps are whole milliseconds: a microsecond shift never collides
        conn.execute(
            sa.text(
                f"INSERT INTO tracker_task_history ({columns}) SELECT {shifted} "
                "FROM tracker_task_history CROSS JOIN generate_series(1, :copies) AS k"
            ),
            {"copies": copies},
        )
        total = count_in(conn, "SELECT count(*) FROM tracker_task_history")
        step = max(1, total // max(seeded, 1))
        conn.execute(
            sa.text(
                f"INSERT INTO tracker_task_history ({columns}) SELECT {columns} "
                "FROM tracker_task_history WHERE id % :step = 0 ORDER BY id LIMIT :n"
            ),
            {"step": step, "n": seeded},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE tracker_task_history"))
    rows = count(engine, "SELECT count(*) FROM tracker_task_history")
    groups = count(
        engine,
        "SELECT count(*) FROM (SELECT 1 FROM tracker_task_history "
        "GROUP BY task_id, status, start_date HAVING count(*) > 1) d",
    )
    return rows, groups


def count_in(conn: sa.Connection, sql: str) -> int:
    return int(conn.scalar(sa.text(sql)) or 0)


# --------------------------------------------------------------------------- report


def bound_s(r: dict[str, Any]) -> float:
    """The network bound: requests x latency / workers."""
    return r["requests"] * r["latency_ms"] / 1000 / r["workers"]


def print_syncs(syncs: list[tuple[str, dict[str, Any]]]) -> None:
    header = (
        f"{'sync':<26} {'requests':>8} {'wall s':>7} {'rows':>8} {'rows/s':>7} "
        f"{'bound s':>8} {'wall/bound':>10} {'RSS at start MB':>15} {'peak RSS MB':>11} "
        f"{'load':>5}"
    )
    print(header)
    print("-" * len(header))
    for label, r in syncs:
        rows = r["issues_written"] + r["entries"] + r["stays"]
        print(
            f"{label:<26} {fmt_int(r['requests']):>8} {r['wall']:>7.1f} {fmt_int(rows):>8} "
            f"{rows / r['wall']:>7,.0f} {bound_s(r):>8.1f} {r['wall'] / bound_s(r):>9.2f}x "
            f"{r['start_rss']:>15.0f} {r['peak_rss']:>11.0f} {r['load'][0]:>5.1f}"
        )
    print()
    print("where the time, the requests and the CPU went:")
    for label, r in syncs:
        phases = ", ".join(
            f"{name} {r['seconds'][name]:.1f} s"
            + (
                f" / {fmt_int(r['requests_by_phase'][name])} req"
                if name in r["requests_by_phase"]
                else ""
            )
            for name in ("issues", "changelog", "history")
        )
        split = ", ".join(f"{k} {v:.1f} s" for k, v in r["split"].items())
        print(f"  {label}: {phases}")
        print(f"    ({split})")
        print(
            f"    {fmt_int(r['issues_written'])} issues written ({fmt_int(r['issues_seen'])} "
            f"seen), {fmt_int(r['entries'])} entries, {fmt_int(r['stays'])} stays; "
            f"{r['retries']} retries, {r['throttled']} throttled, {r['mib_received']:.0f} MiB "
            f"received; emulator saw {r['emulator_requests']}"
        )
        print(
            f"    CPU: client {r['cpu']:.1f} s, emulator {r['emulator_cpu']:.1f} s, PostgreSQL "
            f"(the sync's backends) {r['database_cpu']:.1f} s; the machine's CPUs were "
            f"{r['machine_busy']:.0%} busy (every process: client, emulator, PostgreSQL, anything "
            f"else running); load average {r['load'][0]:.1f} at the start, {r['load'][1]:.1f} at "
            "the end"
        )


def print_sweep(sweep: list[tuple[str, dict[str, Any]]], small: int) -> None:
    if not sweep:
        return
    print()
    print(f"full sync of the {small:,}-issue org at other settings (same data, fresh database):")
    header = (
        f"  {'setting':<44} {'wall s':>7} {'bound s':>8} {'wall/bound':>10} "
        f"{'changelog: waiting for fetches s':>32} {'writing s':>9} {'machine busy':>12} "
        f"{'CPU client/emulator/PostgreSQL s':>32} {'load':>5}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for label, r in sweep:
        ratio = f"{r['wall'] / bound_s(r):>9.2f}x" if r["latency_ms"] else f"{'-':>10}"
        print(
            f"  {label:<44} {r['wall']:>7.1f} {bound_s(r):>8.1f} {ratio} "
            f"{r['split']['changelog waiting for fetches']:>32.1f} "
            f"{r['split']['changelog write']:>9.1f} "
            f"{r['machine_busy']:>12.0%} "
            f"{cpu_split(r):>32} {r['load'][0]:>5.1f}"
        )


def cpu_split(r: dict[str, Any]) -> str:
    return f"{r['cpu']:.1f} / {r['emulator_cpu']:.1f} / {r['database_cpu']:.1f}"


def print_writes(writes: dict[str, dict[str, Any]]) -> None:
    stays = writes["orm"]["rows"]
    width = max(len(r["label"]) for r in writes.values())
    print()
    print(
        f"history writes: the {stays:,} stays the sync built, written again into the emptied "
        f"table by each approach ([n] = a sample of the first n; same = identical rows):"
    )
    header = f"  {'approach':<{width}} {'rows':>7} {'seconds':>8} {'rows/s':>8} {'vs ORM':>7} same"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in writes.values():
        print(
            f"  {r['label']:<{width}} {fmt_int(r['rows']):>7} {r['seconds']:>8.2f} "
            f"{r['rate']:>8,.0f} {r['rate'] / writes['orm']['rate']:>6.1f}x "
            f"{'yes' if r['same'] else 'NO'}"
        )


def print_checks(
    checks: list[tuple[str, dict[str, Any]]], total: int, groups: int, prepare_s: float
) -> None:
    print()
    print(
        f"duplicate check on {total:,} history rows ({groups:,} duplicated stays seeded; "
        "the history replicated with shifted dates into the table without its unique "
        f"constraint, like the predecessor's; built in {prepare_s:.0f} s), each approach in a "
        "fresh process:"
    )
    sql = checks[0][1]
    header = (
        f"  {'approach':<44} {'seconds':>8} {'RSS growth MB':>14} {'found':>6} "
        f"{'time vs SQL':>11} {'memory vs SQL':>14}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for label, r in checks:
        print(
            f"  {label:<44} {r['seconds']:>8.2f} {r['growth']:>14.2f} {r['found']:>6} "
            f"{r['seconds'] / sql['seconds']:>10.1f}x {memory_ratio(r, sql):>14}"
        )


def memory_ratio(r: dict[str, Any], sql: dict[str, Any]) -> str:
    page = 4 / 1024  # RSS is counted in 4 KiB pages
    if sql["growth"] < page:
        return f">{r['growth'] / page:,.0f}x" if r["growth"] >= page else "-"
    return f"{r['growth'] / sql['growth']:,.0f}x"


def print_targets(
    syncs: dict[str, dict[str, Any]],
    writes: dict[str, dict[str, Any]],
    checks: list[tuple[str, dict[str, Any]]],
    n_changed: int,
    groups: int,
) -> None:
    def verdict(ok: bool) -> str:
        return "met   " if ok else "MISSED"

    full, small, incr = syncs["full"], syncs["small"], syncs["incremental"]
    sql, orm = checks[0][1], checks[1][1]
    print()
    print("targets:")
    ratios = {
        key: {b: writes[key]["rate"] / writes[b]["rate"] for b in ORM_BASELINES}
        for key in ("upsert", "rebuild")
    }
    best = max(ratios["upsert"]["orm"], ratios["rebuild"]["orm"])
    print(
        f"  {verdict(best >= 20)} bulk history writes >= 20x the ORM baseline (batched ORM, one "
        f"commit): upsert_stays {ratios['upsert']['orm']:.1f}x, SQL rebuild "
        f"{ratios['rebuild']['orm']:.1f}x"
    )
    for baseline, what in (
        ("orm_unbatched", "one INSERT per row"),
        ("orm_commit_each", "commit per row"),
    ):
        print(
            f"         against the ORM with {what}: upsert_stays "
            f"{ratios['upsert'][baseline]:.1f}x, SQL rebuild {ratios['rebuild'][baseline]:.1f}x"
        )
    print(
        f"         for scale, outside the project: COPY FROM STDIN is "
        f"{writes['copy']['rate'] / writes['orm']['rate']:.1f}x and upsert_stays' SQL with "
        f"RETURNING {writes['upsert_returning']['rate'] / writes['orm']['rate']:.1f}x the "
        "batched ORM"
    )
    time_ratio = orm["seconds"] / sql["seconds"]
    print(
        f"  {verdict(time_ratio >= 20)} duplicate check >= 20x faster than loading the table "
        f"into ORM objects: {time_ratio:.1f}x ({orm['seconds']:.1f} s vs {sql['seconds']:.2f} s)"
    )
    ratio_text = memory_ratio(orm, sql)
    page = 4 / 1024
    mem_ok = orm["growth"] >= 100 * max(sql["growth"], page)
    print(
        f"  {verdict(mem_ok)} duplicate check >= 100x less memory: {ratio_text} "
        f"({orm['growth']:,.0f} MB vs {sql['growth'] * 1024:,.0f} KB of RSS growth)"
    )
    constant = incr["requests"] - n_changed
    incr_ok = constant <= 5 and incr["requests_by_phase"]["changelog"] == n_changed
    print(
        f"  {verdict(incr_ok)} incremental sync requests = changed issues + a constant: "
        f"{incr['requests']} = {n_changed} + {constant} (one changelog request per changed "
        f"issue; the rest is the issue search and its scroll release)"
    )
    wall_ratio = full["wall"] / bound_s(full)
    print(
        f"  {verdict(wall_ratio <= 1.5)} full-sync wall time within 1.5x of the network bound: "
        f"{wall_ratio:.2f}x ({full['wall']:.1f} s vs {bound_s(full):.1f} s) at "
        f"{full['workers']} workers"
    )
    needed = full["cpu"] + full["emulator_cpu"] + full["database_cpu"]
    cpus = os.cpu_count() or 1
    print(
        f"         what limits it: the sync needed {needed:.1f} CPU s (client {full['cpu']:.1f}, "
        f"one interpreter; emulator {full['emulator_cpu']:.1f}; PostgreSQL "
        f"{full['database_cpu']:.1f}): {needed / cpus:.1f} s of wall on {cpus} CPUs if the sync "
        f"had them to itself; the load average was {full['load'][0]:.1f} (other work shares them)"
    )
    peaks = (small["peak_rss"], full["peak_rss"])
    print(
        f"  {verdict(peaks[1] <= peaks[0] * 1.25)} peak RSS independent of the number of "
        f"issues: {small['issues_seen']:,} issues {peaks[0]:.0f} MB, {full['issues_seen']:,} "
        f"issues {peaks[1]:.0f} MB"
    )
    rebuild = writes["rebuild"]["rate"]
    in_sync = full["stays"] / max(full["seconds"]["history"], 1e-9)
    print(
        f"  {verdict(rebuild >= 100_000)} history build >= 100K stays/s: SQL rebuild "
        f"{rebuild:,.0f}/s here, {in_sync:,.0f}/s inside the full sync"
    )
    print(
        f"         the floor on this machine (writing finished rows, nothing derived): INSERT ... "
        f"SELECT {writes['floor_insert']['rate']:,.0f}/s, COPY {writes['copy']['rate']:,.0f}/s; "
        f"without indexes and the FK check {writes['floor_bare']['rate']:,.0f}/s"
    )
    agree = all(r["found"] == groups for _, r in checks)
    print(f"  {verdict(agree)} every duplicate check found the {groups:,} seeded duplicated stays")


ORM_BASELINES = ("orm", "orm_unbatched", "orm_commit_each")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issues", type=int, default=None, help="large org (default 10000)")
    parser.add_argument("--small-issues", type=int, default=None, help="small org (default 2000)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="emulator latency (20)")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("TRACKER_WORKERS", "8")),
        help="client changelog workers (default: TRACKER_WORKERS, else 8 like the settings)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="TrackerClient max_in_flight for the main syncs (default: the client's, 2 x workers)",
    )
    parser.add_argument(
        "--sweep",
        default="2,4,16",
        help="other worker counts to run the small org's full sync at ('' for none)",
    )
    parser.add_argument("--changed", type=float, default=0.01, help="share changed (0.01)")
    parser.add_argument("--dup-rows", type=int, default=None, help="rows for the duplicate check")
    parser.add_argument("--seeded-duplicates", type=int, default=1000)
    parser.add_argument("--write-sample", type=int, default=3000, help="rows for per-row ORM")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--quick", action="store_true", help="2,000 and 500 issues, 200,000 rows for duplicates"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    issues = args.issues or (2000 if args.quick else 10_000)
    small = args.small_issues or (500 if args.quick else 2000)
    dup_rows = args.dup_rows or (200_000 if args.quick else 1_000_000)
    sweep_workers = [int(w) for w in args.sweep.split(",") if w.strip()]
    lat, workers = args.latency_ms, args.workers

    bench_started = time.perf_counter()
    server = server_url()
    name = f"radiator_bench_sync_{uuid.uuid4().hex[:8]}"
    with admin(server).connect() as conn:
        version = conn.scalar(sa.text("SHOW server_version"))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    url_text = url.render_as_string(hide_password=False)
    engine = create_engine(url)

    def stored() -> tuple[int, int]:
        return (
            count(engine, "SELECT count(*) FROM tracker_tasks"),
            count(engine, "SELECT count(*) FROM tracker_changelog"),
        )

    def sync(
        host: EmulatorHost, n_workers: int, max_in_flight: int | None, latency: float
    ) -> dict[str, Any]:
        result = run_sync(url_text, host, n_workers, max_in_flight)
        result.update(workers=n_workers, latency_ms=latency)
        return result

    def empty_tables() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))

    try:
        upgrade(engine)
        syncs: dict[str, dict[str, Any]] = {}
        sweep: list[tuple[str, dict[str, Any]]] = []

        print(f"emulator: generating {small:,} issues...", flush=True)
        with EmulatorHost(small, args.seed, lat) as host:
            expected = (host.info["issues"], host.info["entries"])
            print(f"  {expected[0]:,} issues, {expected[1]:,} entries; full sync...", flush=True)
            syncs["small"] = sync(host, workers, args.max_in_flight, lat)
            if stored() != expected:
                raise RuntimeError(f"the full sync stored {stored()}, Tracker has {expected}")
            settings: list[tuple[str, int, int | None, float]] = [
                (f"{w} workers", w, None, lat) for w in sweep_workers if w != workers
            ]
            if sweep_workers:
                settings += [
                    (f"{workers} workers, client max_in_flight 200", workers, 200, lat),
                    (f"{workers} workers, 0 ms latency (the CPU floor)", workers, None, 0.0),
                ]
            for label, n_workers, max_in_flight, latency in settings:
                empty_tables()
                print(f"  full sync again: {label}...", flush=True)
                host.call("latency", ms=latency)
                sweep.append((label, sync(host, n_workers, max_in_flight, latency)))
                if stored() != expected:
                    raise RuntimeError(f"the full sync stored {stored()}, Tracker has {expected}")
        empty_tables()

        print(f"emulator: generating {issues:,} issues...", flush=True)
        with EmulatorHost(issues, args.seed, lat) as host:
            expected = (host.info["issues"], host.info["entries"])
            print(f"  {expected[0]:,} issues, {expected[1]:,} entries; full sync...", flush=True)
            syncs["full"] = sync(host, workers, args.max_in_flight, lat)
            if stored() != expected:
                raise RuntimeError(f"the full sync stored {stored()}, Tracker has {expected}")
            n_changed = max(1, round(issues * args.changed))
            changed = host.call("change", hours=2, issues=n_changed, per_issue=2)
            print(f"  {len(changed)} issues got 2 new entries each; incremental sync...")
            syncs["incremental"] = sync(host, workers, args.max_in_flight, lat)
            if count(engine, "SELECT count(*) FROM tracker_changelog") != host.call("entries"):
                raise RuntimeError(
                    "after the incremental sync the changelog differs from Tracker's"
                )

        print("history writes: ORM vs bulk on the same stays...", flush=True)
        writes = history_write_benchmark(engine, url, args.write_sample)

        print(f"duplicate check: replicating the history to ~{dup_rows:,} rows...", flush=True)
        t0 = time.perf_counter()
        dup_total, dup_groups = prepare_duplicates(engine, dup_rows, args.seeded_duplicates)
        prepare_s = time.perf_counter() - t0
        checks = []
        for what, label in (
            ("sql", "SQL: quality.duplicate_stays"),
            ("orm", "Python: every row as an ORM object + dict"),
            ("tuples", "Python: every row as a tuple + dict"),
        ):
            print(f"  {label}...", flush=True)
            checks.append((label, run_in_child(_dup_child, url_text, what)))
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept database {name}")
        else:
            with admin(server).connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    print()
    mif = args.max_in_flight or 2 * workers
    print(
        f"Ingestion benchmark: emulator (profile full) at {lat:g} ms per request; TrackerClient "
        f"workers={workers}, max_in_flight={mif}, rate limit lifted; batches as the settings' "
        f"defaults; PostgreSQL {version}; {os.cpu_count()} CPUs shared by client, emulator and "
        "database"
    )
    print(
        "rows = issues + changelog entries + status stays written; bound = requests x latency "
        "/ workers; peak RSS = the sync process's VmHWM"
    )
    print()
    print_syncs(
        [
            (f"full, {syncs['small']['issues_seen']:,} issues", syncs["small"]),
            (f"full, {syncs['full']['issues_seen']:,} issues", syncs["full"]),
            (f"incremental, {len(changed)} changed", syncs["incremental"]),
        ]
    )
    if sweep:
        by_workers = [(f"{workers} workers (the run above)", syncs["small"])]
        by_workers += [(label, r) for label, r in sweep if "," not in label]
        by_workers.sort(key=lambda item: item[1]["workers"])
        print_sweep(by_workers + [(label, r) for label, r in sweep if "," in label], small)
    print_writes(writes)
    print_checks(checks, dup_total, dup_groups, prepare_s)
    print_targets(syncs, writes, checks, len(changed), dup_groups)
    print(f"\ntotal benchmark time: {time.perf_counter() - bench_started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
