"""Benchmark: every report on 50,000 product tasks with about 1,000,000 stays.

    python benchmarks/bench_reports.py [--product-tasks 50000] [--keep]

Generates the data straight into a fresh PostgreSQL database (COPY) with the
Tracker emulator's status walks (radiator_assets.emulator.walks: pauses,
mis-clicks, reopenings, returns to testing, abandoned tasks), plus implementation
tasks (2 for every 5 product tasks) linked with `relates`, sub-tasks and epics.
The server is RADIATOR_DATABASE_URL's, else postgres@127.0.0.1:5432 (trust auth);
the database is dropped at the end unless --keep.

Each build runs in a fresh process, so the peak RSS printed is that build's own.
Baselines, measured in the same run on the same data:

* naive: the predecessor's shape, one query per task for its stays and one INSERT
  per report row, on a subset of product tasks, extrapolated linearly;
* load-all: the whole history read into Python at once (peak RSS of that alone).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radiator_assets.emulator.walks import (  # noqa: E402
    WalkProfile,
    cpo_walk,
    fullstack_walk,
)
from radiator_assets.storage.engine import create_engine, normalise_url  # noqa: E402
from radiator_assets.storage.migrations import upgrade  # noqa: E402

NOW = datetime(2025, 6, 2, 9, tzinfo=UTC)
AS_OF = NOW
SPAN_DAYS = 900
# tuned so a product task has about 20 stays on average
PRODUCT_WALK = WalkProfile(
    p_stop=0.035, p_pause=0.2, p_click=0.2, p_back=0.3, p_reopen=0.5, p_cancel=0.01
)
IMPLEMENTATION_WALK = WalkProfile(p_stop=0.03)
AUTHORS = [f"Author {i}" for i in range(1, 41)]


def server_url() -> sa.URL:
    raw = (
        os.environ.get("RADIATOR_DATABASE_URL")
        or "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    )
    return normalise_url(raw).set(database="postgres")


def admin(url: sa.URL) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


# --------------------------------------------------------------------------- data


def _text(value: Any) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _copy(engine: sa.Engine, table: str, columns: list[str], lines: list[str]) -> None:
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN",
                io.StringIO("\n".join(lines) + "\n"),
            )
        raw.commit()
    finally:
        raw.close()


def generate(engine: sa.Engine, product_tasks: int, seed: int = 1) -> dict[str, int]:
    """Tasks and stays straight into tracker_tasks / tracker_task_history (COPY)."""
    rng = random.Random(seed)
    implementation_tasks = product_tasks * 2 // 5
    task_cols = [
        "id", "tracker_id", "key", "queue", "summary", "status", "author", "parent_key",
        "epic_key", "links", "full_data", "created_at", "task_updated_at", "history_stale",
    ]  # fmt: skip
    stay_cols = ["task_id", "tracker_id", "status", "status_display", "start_date", "end_date"]
    counts = {"product_tasks": 0, "implementation_tasks": 0, "stays": 0, "product_stays": 0}
    product_keys: list[str] = []
    tasks: list[str] = []
    stays: list[str] = []

    def flush(final: bool = False) -> None:
        if tasks and (final or len(stays) > 200_000):
            _copy(engine, "tracker_tasks", task_cols, tasks)
            _copy(engine, "tracker_task_history", stay_cols, stays)
            tasks.clear()
            stays.clear()

    def add(task_id: int, key: str, queue: str, walk: list, initial: str, **kw: Any) -> None:
        created = kw.pop("created")
        links = kw.pop("links", [])
        history = [(initial, created), *((s["display"], t) for s, t in walk)]
        tracker_id = f"{task_id:024x}"
        tasks.append(
            "\t".join(
                _text(v)
                for v in (
                    task_id,
                    tracker_id,
                    key,
                    queue,
                    f"Task {key}",
                    history[-1][0],
                    kw.get("author"),
                    kw.get("parent"),
                    kw.get("epic"),
                    json.dumps(links),
                    "{}",
                    created.isoformat(),
                    history[-1][1].isoformat(),
                    "f",
                )
            )
        )
        for n, (status, start) in enumerate(history):
            end = history[n + 1][1] if n + 1 < len(history) else None
            stays.append(
                "\t".join(
                    _text(v)
                    for v in (
                        task_id,
                        tracker_id,
                        status,
                        status,
                        start.isoformat(),
                        None if end is None else end.isoformat(),
                    )
                )
            )
        counts["stays"] += len(history)
        if queue == "CPO":
            counts["product_stays"] += len(history)
        flush()

    task_id = 0
    for n in range(1, product_tasks + 1):
        task_id += 1
        created = NOW - timedelta(days=rng.uniform(1, SPAN_DAYS))
        key = f"CPO-{n}"
        product_keys.append(key)
        walk = cpo_walk(rng, created, NOW, PRODUCT_WALK)
        add(task_id, key, "CPO", walk, "Открыт", created=created, author=rng.choice(AUTHORS))
        counts["product_tasks"] += 1
    implementation_keys: list[str] = []
    epics = [f"FULLSTACK-E{i}" for i in range(1, max(2, implementation_tasks // 50))]
    for n in range(1, implementation_tasks + 1):
        task_id += 1
        created = NOW - timedelta(days=rng.uniform(1, SPAN_DAYS))
        key = f"FULLSTACK-{n}"
        links = []
        if rng.random() < 0.7:
            target = rng.choice(product_keys)
            links.append(
                {
                    "type": {"id": "relates"},
                    "direction": rng.choice(["inward", "outward"]),
                    "object": {"id": None, "key": target},
                }
            )
        parent = (
            rng.choice(implementation_keys[-300:])
            if implementation_keys and rng.random() < 0.25
            else None
        )
        walk = fullstack_walk(rng, created, NOW, IMPLEMENTATION_WALK)
        add(
            task_id, key, "FULLSTACK", walk, "Open", created=created, links=links,
            parent=parent, epic=rng.choice(epics) if rng.random() < 0.5 else None,
            author=rng.choice(AUTHORS),
        )  # fmt: skip
        implementation_keys.append(key)
        counts["implementation_tasks"] += 1
    flush(final=True)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    return counts


# --------------------------------------------------------------------------- builds


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss it is not inherited
    from the parent across exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(url: str, what: str, arg: int, queue: mp.Queue) -> None:
    import radiator_assets.reports.pictures  # noqa: F401  (its imports are not the build's)
    from radiator_assets.metrics.config import MetricsConfig
    from radiator_assets.reports.activity import build_status_activity
    from radiator_assets.reports.common import ReportInputs
    from radiator_assets.reports.product import build_product_reports
    from radiator_assets.reports.returns import build_testing_returns
    from radiator_assets.reports.time_in_status import build_time_in_status

    engine = create_engine(sa.make_url(url))
    inputs = ReportInputs.of(MetricsConfig.default(), AS_OF)
    before = peak_rss_mb()
    started = time.perf_counter()
    rows: Any = None
    if what == "product":
        results = build_product_reports(
            engine, inputs, pictures_dir=Path(os.environ.get("TMPDIR", "/tmp")) / "bench_pictures"
        )
        rows = {k: v.rows for k, v in results.items()}
        rows["timings"] = {k: round(v, 2) for k, v in results["report_ttm_details"].seconds.items()}
    elif what == "time_in_status":
        rows = build_time_in_status(engine, inputs).rows
    elif what == "testing_returns":
        rows = build_testing_returns(engine, inputs).rows
    elif what == "status_activity":
        rows = build_status_activity(engine, inputs).rows
    elif what == "naive":
        rows = naive_details(engine, inputs, arg)
    elif what == "load_all":
        rows = load_all(engine)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    queue.put((seconds, (before, peak), rows))


def run_in_child(url: str, what: str, arg: int = 0) -> tuple[float, float, Any]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(url, what, arg, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def naive_details(engine: sa.Engine, inputs: Any, limit: int) -> int:
    """The shape the predecessor had: per task, one query for its stays, the metrics,
    one INSERT per row (here into a scratch table)."""
    from radiator_assets.metrics.engine import compute_task_metrics
    from radiator_assets.metrics.stays import Stay

    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE naive (task_key text, ttm int, tail int)"))
        tasks = conn.execute(
            sa.text(
                "SELECT id, key, created_at FROM tracker_tasks WHERE queue = 'CPO' "
                "ORDER BY id LIMIT :n"
            ),
            {"n": limit},
        ).all()
        for task in tasks:
            stays = [
                Stay(r.status, r.start_date, r.end_date)
                for r in conn.execute(
                    sa.text(
                        "SELECT status, start_date, end_date FROM tracker_task_history "
                        "WHERE task_id = :t ORDER BY start_date"
                    ),
                    {"t": task.id},
                )
            ]
            m = compute_task_metrics(
                stays, created=task.created_at, config=inputs.config, as_of=inputs.as_of
            )
            conn.execute(
                sa.text("INSERT INTO naive VALUES (:k, :ttm, :tail)"),
                {"k": task.key, "ttm": m.ttm, "tail": m.tail},
            )
    return len(tasks)


def load_all(engine: sa.Engine) -> int:
    """The whole history in Python at once (what 'memory bounded by the batch' avoids)."""
    from radiator_assets.metrics.stays import Stay

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT task_id, status, start_date, end_date FROM tracker_task_history "
                "ORDER BY task_id, start_date"
            )
        ).all()
    stays = [Stay(r.status, r.start_date, r.end_date) for r in rows]
    return len(stays)


# --------------------------------------------------------------------------- main


def load_average() -> str:
    """The machine's load averages: timings on a shared machine mean little without them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--product-tasks", type=int, default=50_000)
    parser.add_argument("--naive-subset", type=int, default=1_000)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)

    print(f"load average (1, 5, 15 min) at the start: {load_average()}")
    server = server_url()
    name = f"radiator_bench_{uuid.uuid4().hex[:8]}"
    with admin(server).connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    engine = create_engine(url)
    try:
        upgrade(engine)
        t0 = time.perf_counter()
        counts = generate(engine, args.product_tasks)
        print(f"generated in {time.perf_counter() - t0:.1f} s: {counts}")
        url_text = url.render_as_string(hide_password=False)
        table: list[tuple[str, float, float, str]] = []
        total = 0.0
        for what, label in (
            ("product", "ttm_details + ttm_summary + flow_weekly + aging_wip (+3 PNGs)"),
            ("time_in_status", "time_in_status"),
            ("testing_returns", "testing_returns"),
            ("status_activity", "status_activity"),
        ):
            seconds, rss, rows = run_in_child(url_text, what)
            total += seconds
            table.append((label, seconds, rss, json.dumps(rows, ensure_ascii=False)))
        naive_s, _, naive_n = run_in_child(url_text, "naive", args.naive_subset)
        load_s, load_rss, load_n = run_in_child(url_text, "load_all")
        print()
        print(f"{'report':<64} {'seconds':>8} {'peak RSS MB':>12} {'of it build':>12}  rows")
        for label, seconds, (before, peak), rows in table:
            print(f"{label:<64} {seconds:>8.1f} {peak:>12.0f} {peak - before:>12.0f}  {rows}")
        print(f"{'all reports':<64} {total:>8.1f}")
        print()
        product_s = table[0][1]
        extrapolated = naive_s / naive_n * counts["product_tasks"]
        print(
            f"baseline naive (query + insert per task) on {naive_n} tasks: {naive_s:.1f} s, "
            f"extrapolated to {counts['product_tasks']}: {extrapolated:.0f} s for TTM details "
            f"alone; the product pass (4 reports) is {extrapolated / product_s:.1f}x faster"
        )
        product_growth = table[0][2][1] - table[0][2][0]
        load_growth = load_rss[1] - load_rss[0]
        print(
            f"baseline load-all ({load_n} stays as Python objects at once): {load_s:.1f} s, "
            f"peak RSS {load_rss[1]:.0f} MB (+{load_growth:.0f} MB for the data); the streamed "
            f"product pass grows by {product_growth:.0f} MB "
            f"({load_growth / max(product_growth, 1):.1f}x less)"
        )
        verdict = "under" if total < 60 else "OVER"
        print(f"all reports: {total:.1f} s, {verdict} the one-minute budget")
        print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    finally:
        engine.dispose()
        if not args.keep:
            with admin(server).connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
