"""Benchmark: where the history build's time goes, and its floor on this machine (issue 13).

    python benchmarks/bench_history.py [--issues 10000] [--rounds 3] [--batch-tasks 2000]
        [--compare-with REV] [--reuse DATABASE] [--keep]

Run by hand, not in CI. The data is bench_sync's large organisation (emulator profile
"full", `--issues` issues, about 88K stays at 10,000): a fresh database on
RADIATOR_DATABASE_URL's server (else postgres@127.0.0.1:5432), migrated to head, filled
by one full sync through the project's path at 0 ms latency; `--reuse` skips that for a
database a `--keep` run left. Then, every timed build starting from the same state (the
history emptied and every task marked stale, as in bench_sync's "SQL rebuild" row and in
a first sync; the "full table" rows keep the stays, so the deletes count):

1. a statement-by-statement profile of `build_history`'s transactions (the same
   statements, timed one by one, plus the derivation alone as a count);
2. the whole build with each index, the foreign key, all of them, in turn dropped
   (a scratch database: they are recreated after), and with settings that change
   commits (`synchronous_commit`, the batch size);
3. the floors: the finished stays written in one INSERT ... SELECT with the table's
   indexes and without any;
4. with `--compare-with REV`: `build_history` of git revision REV (its
   `radiator_assets/sync/history.py`, run against the schema of that revision's
   indexes) against the working tree's, alternating.

Variants alternate round by round and the median is printed, with the 1-minute load
average of the machine (other people's work shows there).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_sync import (  # noqa: E402
    HISTORY_COLUMNS,
    EmulatorHost,
    admin,
    load_average,
    process_cpu_seconds,
    run_sync,
    server_url,
)

from radiator_assets.storage.engine import create_engine  # noqa: E402
from radiator_assets.storage.migrations import upgrade  # noqa: E402
from radiator_assets.sync import history as history_module  # noqa: E402
from radiator_assets.sync.locking import sync_lock  # noqa: E402

HISTORY = "tracker_task_history"
FINISHED = "bench_history_finished"  # the stays the sync built, kept aside
BARE = "bench_history_bare"  # the same columns, no index, no constraint


def fresh_database(issues: int, seed: int) -> tuple[str, sa.URL]:
    """A new database holding bench_sync's organisation of `issues` issues, synced."""
    server = server_url()
    name = f"radiator_bench_history_{uuid.uuid4().hex[:8]}"
    with admin(server).connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    engine = create_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print(f"emulator: generating {issues:,} issues; full sync at 0 ms...", flush=True)
    with EmulatorHost(issues, seed, 0.0) as host:
        result = run_sync(url.render_as_string(hide_password=False), host, 8)
    print(f"  {result['stays']:,} stays in {result['seconds']['history']:.2f} s", flush=True)
    return name, url


def drop_database(name: str) -> None:
    with admin(server_url()).connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --------------------------------------------------------------------------- schema variants


def table_objects(engine: sa.Engine) -> dict[str, str]:
    """Name -> the statement that recreates it, for every index and constraint of the
    history table (constraints own their indexes: those are listed as constraints)."""
    with engine.connect() as conn:
        constraints = dict(
            conn.execute(
                sa.text(
                    "SELECT conname, format('ALTER TABLE %I ADD CONSTRAINT %I %s', "
                    "conrelid::regclass, conname, pg_get_constraintdef(oid)) "
                    "FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) AND contype <> 'n'"
                ),
                {"t": HISTORY},
            ).all()
        )
        indexes = dict(
            conn.execute(
                sa.text(
                    "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE i.indrelid = CAST(:t AS regclass) AND NOT EXISTS "
                    "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
                ),
                {"t": HISTORY},
            ).all()
        )
    return {**indexes, **constraints}


def drop_statement(name: str, recreate: str) -> str:
    if recreate.startswith("ALTER TABLE"):
        return f"ALTER TABLE {HISTORY} DROP CONSTRAINT {name}"
    return f"DROP INDEX {name}"


@contextmanager
def without(engine: sa.Engine, names: list[str]) -> Iterator[None]:
    """The history table without the named indexes and constraints; restored after (the
    foreign key first dropped, last recreated: the primary key ...)."""
    objects = table_objects(engine)
    chosen = {n: objects[n] for n in names}
    with engine.begin() as conn:
        for name, recreate in chosen.items():
            conn.execute(sa.text(drop_statement(name, recreate)))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for recreate in chosen.values():
                conn.execute(sa.text(recreate))


@contextmanager
def with_indexes(engine: sa.Engine, statements: dict[str, str]) -> Iterator[None]:
    """The history table with extra indexes (the schema before a revision dropped them)."""
    with engine.begin() as conn:
        for statement in statements.values():
            conn.execute(sa.text(statement))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for name in statements:
                conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))


# --------------------------------------------------------------------------- one timed build


def vacuum(engine: sa.Engine, *tables: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM ANALYZE {', '.join(tables)}"))


def prepare(engine: sa.Engine, *, keep_stays: bool) -> None:
    """Every task stale; the history emptied unless `keep_stays` (then the build deletes
    each task's stays before writing them again); vacuumed, so rounds start alike."""
    with engine.begin() as conn:
        if not keep_stays:
            conn.execute(sa.text(f"TRUNCATE {HISTORY}"))
        conn.execute(sa.text("UPDATE tracker_tasks SET history_stale = true"))
    vacuum(engine, "tracker_tasks", HISTORY)


def wal_position(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(sa.text("SELECT pg_current_wal_insert_lsn()")))


def wal_bytes(engine: sa.Engine, since: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), CAST(:s AS pg_lsn))"),
                {"s": since},
            )
        )


Build = Callable[..., Any]


def timed_build(
    engine: sa.Engine,
    build: Build,
    *,
    batch_tasks: int = 2000,
    session_settings: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One `build` through the sync lock: seconds, stays, WAL bytes, its parts' seconds."""
    with sync_lock(engine) as writer:
        with writer.transaction() as conn:
            for setting in session_settings:
                conn.execute(sa.text(f"SET {setting}"))
            backend = int(conn.scalar(sa.text("SELECT pg_backend_pid()")))
        since = wal_position(engine)
        load = load_average()
        cpu = process_cpu_seconds(backend)
        started = time.perf_counter()
        result = build(writer, batch_tasks=batch_tasks)
        seconds = time.perf_counter() - started
        cpu = process_cpu_seconds(backend) - cpu
        with writer.transaction() as conn:
            conn.execute(sa.text("RESET ALL"))
    return {
        "seconds": seconds,
        "stays": result.stays_written,
        "wal": wal_bytes(engine, since),
        "parts": dict(result.seconds),
        "load": load,
        "cpu": cpu,
    }


# --------------------------------------------------------------------------- the derivation alone


def derive_seconds(engine: sa.Engine, batch_tasks: int) -> tuple[float, int]:
    """The derivation of every task's stays without writing them (a count over
    DERIVE_STAYS per batch of ids, JIT off as in the build): (seconds, stays)."""
    statement = sa.text(f"SELECT count(*) FROM ({history_module.DERIVE_STAYS}) d")
    with engine.connect() as conn:
        ids = list(conn.scalars(sa.text("SELECT id FROM tracker_tasks ORDER BY id")))
        conn.execute(sa.text("SET jit = off"))
        started = time.perf_counter()
        stays = 0
        for i in range(0, len(ids), batch_tasks):
            stays += int(conn.scalar(statement, {"ids": ids[i : i + batch_tasks]}) or 0)
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds, stays


# --------------------------------------------------------------------------- the floors


def keep_finished(engine: sa.Engine) -> None:
    columns = ", ".join(HISTORY_COLUMNS)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {FINISHED}, {BARE}"))
        conn.execute(sa.text(f"CREATE TABLE {FINISHED} AS SELECT {columns} FROM {HISTORY}"))
        conn.execute(sa.text(f"CREATE TABLE {BARE} AS TABLE {FINISHED} WITH NO DATA"))
    vacuum(engine, FINISHED)


def insert_finished(engine: sa.Engine, table: str, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The finished stays in one INSERT ... SELECT (ordered by the unique key, as the build
    writes them) into `table` emptied first (without the objects `drop` names): nothing
    derived, one statement, one commit. Wall seconds and the backend's CPU seconds."""
    columns = ", ".join(HISTORY_COLUMNS)
    with without(engine, list(drop)):
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {table}"))
        vacuum(engine, table)
        since = wal_position(engine)
        load = load_average()
        with engine.connect() as conn:
            backend = int(conn.scalar(sa.text("SELECT pg_backend_pid()")))
            conn.commit()
            cpu = process_cpu_seconds(backend)
            started = time.perf_counter()
            with conn.begin():
                conn.execute(sa.text("SET LOCAL jit = off"))
                stays = conn.execute(
                    sa.text(
                        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {FINISHED} "
                        "ORDER BY task_id, status, start_date"
                    )
                ).rowcount
            seconds = time.perf_counter() - started
            cpu = process_cpu_seconds(backend) - cpu
    return {
        "seconds": seconds,
        "stays": stays,
        "wal": wal_bytes(engine, since),
        "parts": {},
        "load": load,
        "cpu": cpu,
    }


# --------------------------------------------------------------------------- the variants

# The indexes revision 0008 dropped, as they were: `--compare-with` puts them back for the
# build of the earlier revision, so that "before" is that revision's code on its schema.
DROPPED_BY_0008 = {
    "ix_tracker_task_history_task_id_status": (
        f"CREATE INDEX ix_tracker_task_history_task_id_status ON {HISTORY} (task_id, status)"
    ),
    "ix_tracker_task_history_tracker_id": (
        f"CREATE INDEX ix_tracker_task_history_tracker_id ON {HISTORY} (tracker_id)"
    ),
}


@dataclass
class Variant:
    label: str
    run: Callable[[], dict[str, Any]]


def load_build_of(revision: str) -> Build:
    """`build_history` as git revision `revision` had it (its sync/history.py, loaded as
    a module of its own next to today's package)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:radiator_assets/sync/history.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(f"history_at_{revision}")
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, f"{revision}:radiator_assets/sync/history.py", "exec"), module.__dict__)
    return module.build_history


def variants(engine: sa.Engine, args: argparse.Namespace) -> dict[str, Variant]:
    """Every timed case, by key; each prepares its own starting state."""
    build = history_module.build_history
    batch = args.batch_tasks

    def built(
        *,
        keep_stays: bool = False,
        drop: tuple[str, ...] = (),
        batch_tasks: int = batch,
        session_settings: tuple[str, ...] = (),
    ) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            with without(engine, list(drop)):
                prepare(engine, keep_stays=keep_stays)
                return timed_build(
                    engine, build, batch_tasks=batch_tasks, session_settings=session_settings
                )

        return run

    objects = sorted(table_objects(engine))
    cases: dict[str, Variant] = {
        "as_is": Variant("the build as it is (all stale, table emptied)", built())
    }
    cases["kept"] = Variant(
        "the build over the stays kept (deletes them first)", built(keep_stays=True)
    )
    cases["sync_off"] = Variant(
        "the build, synchronous_commit = off",
        built(session_settings=("synchronous_commit = off",)),
    )
    for n in (500, 10_000):
        if n != batch:
            cases[f"batch:{n}"] = Variant(
                f"the build, {n:,} tasks per transaction", built(batch_tasks=n)
            )
    cases["floor_insert"] = Variant(
        "floor: one INSERT ... SELECT of the finished stays",
        lambda: insert_finished(engine, HISTORY),
    )
    for name in objects:
        cases[f"floor_minus:{name}"] = Variant(
            f"  the same without {name}",
            lambda name=name: insert_finished(engine, HISTORY, (name,)),
        )
    cases["floor_bare"] = Variant(
        "  the same into a table without indexes or FK", lambda: insert_finished(engine, BARE)
    )
    if args.compare_with:
        old = load_build_of(args.compare_with)

        def before() -> dict[str, Any]:
            with with_indexes(engine, DROPPED_BY_0008):
                prepare(engine, keep_stays=False)
                return timed_build(engine, old, batch_tasks=batch)

        cases["before"] = Variant(f"before: {args.compare_with}'s build on its indexes", before)
    return cases


# --------------------------------------------------------------------------- running, printing


def run_rounds(cases: dict[str, Variant], rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Every case once per round, in the same order each round (so each case meets the
    machine's load in every phase of the run)."""
    results: dict[str, list[dict[str, Any]]] = {key: [] for key in cases}
    for round_no in range(1, rounds + 1):
        for key, case in cases.items():
            r = case.run()
            results[key].append(r)
            print(
                f"  round {round_no} {key}: {r['seconds']:.2f} s, {r['stays']:,} stays, "
                f"load {r['load']:.2f}",
                flush=True,
            )
    return results


def median_of(runs: list[dict[str, Any]], what: str, part: str | None = None) -> float:
    values = [r["parts"].get(part, 0.0) if part else r[what] for r in runs]
    return statistics.median(values)


def least(runs: list[dict[str, Any]], what: str = "seconds") -> float:
    """The fastest run: on a shared machine other work only ever adds time."""
    return min(r[what] for r in runs)


def print_variants(cases: dict[str, Variant], results: dict[str, list[dict[str, Any]]]) -> None:
    print(
        f"{'case':<66} {'min s':>6} {'median':>6} {'stays/s':>8} {'CPU s':>6} {'WAL MiB':>7}"
        "  claim/insert s (median)  runs (s)"
    )
    for key, case in cases.items():
        runs = results[key]
        fastest, median = least(runs), median_of(runs, "seconds")
        parts = ""
        if runs[0]["parts"]:
            parts = f"{median_of(runs, '', 'claim'):.2f}/{median_of(runs, '', 'insert'):.2f}"
        print(
            f"{case.label:<66} {fastest:>6.2f} {median:>6.2f} {runs[0]['stays'] / median:>8,.0f} "
            f"{median_of(runs, 'cpu'):>6.2f} {median_of(runs, 'wal') / 2**20:>7.1f}  {parts:<23} "
            + " ".join(f"{r['seconds']:.2f}" for r in runs)
        )


def print_profile(
    results: dict[str, list[dict[str, Any]]], derive: tuple[float, int], objects: list[str]
) -> None:
    """The build as it is, part by part (medians of its own timings), its insert split in
    the proportions of the floors (fastest runs): the derivation (timed alone), writing the
    rows without index or constraint, each index's and the foreign key's maintenance (the
    floor insert less the floor insert without it), and what remains."""
    as_is = results["as_is"]
    total = median_of(as_is, "seconds")
    insert = median_of(as_is, "", "insert")
    floor = least(results["floor_insert"])
    rows: list[tuple[str, float]] = [
        (
            "claim: take the stale tasks, clear their mark (UPDATE tracker_tasks)",
            median_of(as_is, "", "claim"),
        ),
        (
            "delete the old stays (none here: emptied; see 'over the kept stays')",
            median_of(as_is, "", "delete"),
        ),
        ("insert: derive the stays (the SELECT alone, a count)", derive[0]),
        (
            "insert: write the rows, no index or constraint (floor_bare)",
            least(results["floor_bare"]),
        ),
    ]
    for name in objects:
        kind = "check" if name.startswith("fk_") else "maintain"
        share = floor - least(results[f"floor_minus:{name}"])
        rows.append((f"insert: {kind} {name}", share))
    rows.append(
        ("insert: the rest (insert less the lines above)", insert - sum(s for _, s in rows[2:]))
    )
    rows.append(("commit (one per batch)", median_of(as_is, "", "commit")))
    rows.append(("other: round trips, Python, SET jit", total - sum(s for _, s in rows)))
    print(f"{'part':<80} {'seconds':>8} {'share':>6}")
    for label, seconds in rows:
        print(f"{label:<80} {seconds:>8.3f} {seconds / total:>6.1%}")
    print(f"{'total (median of the as-is builds)':<80} {total:>8.3f} {1:>6.0%}")
    kept = results["kept"]
    print(
        f"over the kept stays: claim {median_of(kept, '', 'claim'):.3f} s, delete "
        f"{median_of(kept, '', 'delete'):.3f} s, insert {median_of(kept, '', 'insert'):.3f} s, "
        f"total {median_of(kept, 'seconds'):.3f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issues", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-tasks", type=int, default=2000)
    parser.add_argument("--compare-with", default=None, help="a git revision: its build, before")
    parser.add_argument("--only", default="", help="comma-separated case keys (default: all)")
    parser.add_argument("--reuse", default=None, help="a database a --keep run left")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    if args.reuse:
        name, url = args.reuse, server_url().set(database=args.reuse)
    else:
        name, url = fresh_database(args.issues, args.seed)
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        keep_finished(engine)
        objects = sorted(table_objects(engine))
        cases = variants(engine, args)
        if args.only:
            wanted = args.only.split(",")
            cases = {k: v for k, v in cases.items() if k in wanted or k == "as_is"}
        derive = derive_seconds(engine, args.batch_tasks)
        print(f"derivation alone: {derive[0]:.2f} s for {derive[1]:,} stays", flush=True)
        results = run_rounds(cases, args.rounds)
        with engine.connect() as conn:
            version = conn.scalar(sa.text("SHOW server_version"))
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {FINISHED}, {BARE}"))
        engine.dispose()
        if args.keep or args.reuse:
            print(f"kept database {name}")
        else:
            drop_database(name)
    print()
    print(
        f"History build benchmark: {derive[1]:,} stays of {args.issues:,} issues, "
        f"{args.batch_tasks:,} tasks per transaction, PostgreSQL {version}, "
        f"{len(cases)} cases x {args.rounds} rounds, alternating; load average "
        f"{min(r['load'] for rs in results.values() for r in rs):.2f}.."
        f"{max(r['load'] for rs in results.values() for r in rs):.2f}"
    )
    print()
    print_variants(cases, results)
    needed = ["kept", "floor_insert", "floor_bare"] + [f"floor_minus:{n}" for n in objects]
    if all(key in results for key in needed):
        print()
        print_profile(results, derive, objects)
    print(f"\ntotal benchmark time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
