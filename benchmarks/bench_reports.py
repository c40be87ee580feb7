"""Benchmark: every report on 50,000 product tasks with about 1,000,000 stays.

    python benchmarks/bench_reports.py [--product-tasks 50000] [--naive-subset 2000]
        [--naive-runs 3] [--changed-tasks 20] [--keep]

Generates the data straight into a fresh PostgreSQL database (COPY) with the
Tracker emulator's status walks (radiator_assets.emulator.walks: pauses,
mis-clicks, reopenings, returns to testing, abandoned tasks), plus implementation
tasks (2 for every 5 product tasks) linked with `relates`, sub-tasks and epics.
The server is RADIATOR_DATABASE_URL's, else postgres@127.0.0.1:5432 (trust auth);
the database is dropped at the end unless --keep.

Each build runs in a fresh process, so the peak RSS printed is that build's own.
The full build is what the report table assets run: the four product reports, time
in status, testing returns, status activity (tables only, as the sensor's
`tracker_sync` runs). The pictures (`report_pictures`: heatmaps, flow, aging,
activity, trends) are measured on their own after the full build, into a fresh
directory, so none is kept from an earlier run; they are not part of the totals.
Baselines, measured in the same run on the same data:

* naive: the predecessor's shape, one query per task for its stays and one INSERT
  per report row, on a subset of product tasks, extrapolated linearly; run
  `--naive-runs` times interleaved with the builds (before the full build, between
  it and the incremental stage, after that), the median taken and the spread
  printed (one run on a loaded machine swung 55 s to 301 s);
* load-all: the whole history read into Python at once (peak RSS of that alone).

Incremental stage (issue 13): after the full build, `--changed-tasks` product tasks
change the way a sync writes them, in one transaction: their history rows deleted
and inserted again with the open stay closed and one stay appended, their task
row bumped (status, updated and synced instants); as_of moves on 5 minutes and the
reports are built again, each with `full=False` when its builder takes that keyword
(`inspect.signature`), otherwise in full, saying "incremental build not available"
(status activity is built whole by design, `WHOLE_BUILDS`: that is its incremental
build). Each row shows the build kind, its reason and the tasks recomputed.
The changelog is not written (the generated data has none).

Verdicts printed: full build at most 20 s, at least 3x faster than the naive
baseline, reports after the changes at most 1/10 of the full build.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
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
#: the incremental stage's as_of: 5 minutes on, the changed stays start before it
INCREMENTAL_AS_OF = AS_OF + timedelta(minutes=5)
#: the issue's targets
FULL_BUDGET_S = 20.0
NAIVE_SPEEDUP = 3.0
INCREMENTAL_SHARE = 0.1
#: the builds of a full pass, in order: (what, label)
BUILDS = (
    ("product", "ttm_details + ttm_summary + flow_weekly + aging_wip"),
    ("time_in_status", "time_in_status"),
    ("testing_returns", "testing_returns"),
    ("subepic_returns", "subepic_returns"),
    ("status_activity", "status_activity"),
)
PICTURES = ("pictures", "report_pictures: 3 heatmaps, flow, aging, activity, trends (7 PNGs)")
#: built whole by design, also after changes (one cheap statement, no change detection):
#: their full build is their incremental one
WHOLE_BUILDS = {"status_activity"}
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


def takes_full(builder: Any) -> bool:
    """Whether a report builder has the incremental keyword `full` (the incremental
    builds are wired at merge; until then the stage builds in full and says so)."""
    return "full" in inspect.signature(builder).parameters


def _child(url: str, what: str, arg: int, queue: mp.Queue, job: dict[str, Any]) -> None:
    """One measured step in this fresh process. `job`: as_of (ISO), pictures (a
    directory), incremental (call the builder with full=False when it takes it)."""
    import radiator_assets.reports.pictures  # noqa: F401  (its imports are not the build's)
    from radiator_assets.metrics.config import MetricsConfig
    from radiator_assets.reports.common import ReportInputs

    engine = create_engine(sa.make_url(url))
    inputs = ReportInputs.of(MetricsConfig.default(), datetime.fromisoformat(job["as_of"]))
    before = peak_rss_mb()
    started = time.perf_counter()
    if what == "naive":
        rows: Any = naive_details(engine, inputs, arg)
    elif what == "load_all":
        rows = load_all(engine)
    elif what == "pictures":
        rows = _draw(engine, inputs, job)
    else:
        rows = _build(engine, inputs, what, job)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    queue.put((seconds, (before, peak), rows))


def _build(engine: sa.Engine, inputs: Any, what: str, job: dict[str, Any]) -> dict[str, Any]:
    """Build one report (or the product four) as the assets do; returns its row counts
    and `incremental`: whether full=False was passed."""
    from radiator_assets.reports.activity import build_status_activity
    from radiator_assets.reports.product import build_product_reports
    from radiator_assets.reports.returns import build_testing_returns
    from radiator_assets.reports.subepic_returns import build_subepic_returns
    from radiator_assets.reports.time_in_status import build_time_in_status

    builder, kwargs = {
        "product": (build_product_reports, {}),
        "time_in_status": (build_time_in_status, {}),
        "testing_returns": (build_testing_returns, {}),
        "subepic_returns": (build_subepic_returns, {}),
        "status_activity": (build_status_activity, {}),
    }[what]
    incremental = bool(job["incremental"]) and takes_full(builder)
    if incremental:
        kwargs["full"] = False
    result = builder(engine, inputs, **kwargs)
    if what != "product":
        return {
            "rows": result.rows,
            "incremental": incremental or (bool(job["incremental"]) and what in WHOLE_BUILDS),
            **_build_kind(result.extra),
            "timings": {k: round(v, 2) for k, v in result.seconds.items()},
        }
    rows: dict[str, Any] = {k: v.rows for k, v in result.items()}
    rows["timings"] = {k: round(v, 2) for k, v in result["report_ttm_details"].seconds.items()}
    rows["incremental"] = incremental
    rows.update(_build_kind(result["report_ttm_details"].extra))
    return rows


def _draw(engine: sa.Engine, inputs: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Draw every picture as the report_pictures asset does; returns how many were drawn."""
    from radiator_assets.reports.drawing import draw_report_pictures

    drawn = draw_report_pictures(engine, inputs, Path(job["pictures"]))
    return {"pictures": len(drawn), "redrawn": sum(p.redrawn for p in drawn)}


def _build_kind(extra: dict[str, Any]) -> dict[str, Any]:
    """What an incremental-capable builder says of its build: kind, reason, tasks."""
    keys = ("build", "build_reason", "tasks_recomputed")
    return {k: extra[k] for k in keys if k in extra}


def run_in_child(
    url: str, what: str, arg: int = 0, job: dict[str, Any] | None = None
) -> tuple[float, tuple[float, float], Any]:
    job = job or {"as_of": AS_OF.isoformat(), "pictures": "", "incremental": False}
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(url, what, arg, queue, job))
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


# --------------------------------------------------------------------------- changes


def change_tasks(engine: sa.Engine, product_tasks: int, n: int, seed: int = 2) -> list[int]:
    """Change `n` product tasks the way a sync writes them, in one transaction: their
    history rows deleted and inserted again with the open stay closed and one stay
    appended (a status from the task's own history), the task row bumped. The new
    stays start 1 to 4 minutes after AS_OF, before INCREMENTAL_AS_OF. Returns the ids."""
    rng = random.Random(seed)
    ids = sorted(rng.sample(range(1, product_tasks + 1), n))
    with engine.begin() as conn:
        stays = conn.execute(
            sa.text(
                "SELECT task_id, tracker_id, status, status_display, start_date, end_date "
                "FROM tracker_task_history WHERE task_id = ANY(:ids) ORDER BY task_id, start_date"
            ),
            {"ids": ids},
        ).all()
        history, tasks = _moved_histories(stays, rng)
        conn.execute(
            sa.text("DELETE FROM tracker_task_history WHERE task_id = ANY(:ids)"), {"ids": ids}
        )
        conn.execute(
            sa.text(
                "INSERT INTO tracker_task_history "
                "(task_id, tracker_id, status, status_display, start_date, end_date) "
                "SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(task_id bigint, "
                "tracker_id text, status text, status_display text, start_date timestamptz, "
                "end_date timestamptz)"
            ),
            {"rows": json.dumps(history)},
        )
        conn.execute(
            sa.text(
                "UPDATE tracker_tasks t SET status = v.status, task_updated_at = v.at, "
                "last_sync_at = v.at, changelog_synced_updated_at = v.at, history_stale = false "
                "FROM jsonb_to_recordset(CAST(:tasks AS jsonb)) AS v(id bigint, status text, "
                "at timestamptz) WHERE t.id = v.id"
            ),
            {"tasks": json.dumps(tasks)},
        )
    return ids


def _moved_histories(stays: list[Any], rng: random.Random) -> tuple[list[dict], list[dict]]:
    """The changed history rows (JSON-ready) and task updates: each task's open stay
    closed at its move instant and a stay appended."""
    by_task: dict[int, list[Any]] = {}
    for stay in stays:
        by_task.setdefault(stay.task_id, []).append(stay)
    history: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    for task_id, rows in by_task.items():
        moved = AS_OF + timedelta(minutes=rng.uniform(1, 4))
        others = sorted({r.status for r in rows} - {rows[-1].status}) or [rows[-1].status]
        status = rng.choice(others)
        for row in rows:
            end = row.end_date or moved
            history.append(_stay_json(task_id, row.tracker_id, row.status, row.start_date, end))
        history.append(_stay_json(task_id, rows[-1].tracker_id, status, moved, None))
        tasks.append({"id": task_id, "status": status, "at": moved.isoformat()})
    return history, tasks


def _stay_json(
    task_id: int, tracker_id: str, status: str, start: datetime, end: datetime | None
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "tracker_id": tracker_id,
        "status": status,
        "status_display": status,
        "start_date": start.isoformat(),
        "end_date": None if end is None else end.isoformat(),
    }


# --------------------------------------------------------------------------- main

Build = tuple[str, float, tuple[float, float], Any]


def load_average() -> str:
    """The machine's load averages: timings on a shared machine mean little without them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def run_builds(url: str, job: dict[str, Any]) -> list[Build]:
    """Every report build in its own process, in BUILDS order."""
    return [(label, *run_in_child(url, what, job=job)) for what, label in BUILDS]


def print_builds(title: str, builds: list[Build]) -> float:
    """The table of one pass; returns its total seconds."""
    print()
    print(f"{title:<72} {'seconds':>8} {'peak RSS MB':>12} {'of it build':>12}  rows")
    for label, seconds, (before, peak), rows in builds:
        line = f"{label:<72} {seconds:>8.1f} {peak:>12.0f} {peak - before:>12.0f}"
        print(f"{line}  {json.dumps(rows, ensure_ascii=False)}")
    total = sum(seconds for _, seconds, _, _ in builds)
    print(f"{'all reports':<72} {total:>8.1f}")
    return total


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_verdicts(
    full: list[Build], changed: list[Build], naive: list[float], naive_n: int, tasks: int
) -> None:
    """The issue's three targets, each with its numbers."""
    full_s = sum(b[1] for b in full)
    print()
    print(f"full build of all reports: {full_s:.1f} s; target <= {FULL_BUDGET_S:.0f} s: "
          f"{met(full_s <= FULL_BUDGET_S)}")  # fmt: skip
    per_task = statistics.median(naive) / naive_n
    extrapolated = per_task * tasks
    print(
        f"naive baseline (query + insert per task) on {naive_n} tasks, {len(naive)} runs "
        f"interleaved with the builds: {', '.join(f'{s:.1f}' for s in naive)} s, median "
        f"{statistics.median(naive):.1f} s, spread {max(naive) - min(naive):.1f} s "
        f"(max/min {max(naive) / min(naive):.2f}); extrapolated to {tasks} tasks: "
        f"{extrapolated:.0f} s for TTM details alone"
    )
    print(
        f"full build {extrapolated / full_s:.1f}x faster than naive (the product pass alone "
        f"{extrapolated / full[0][1]:.1f}x); target >= {NAIVE_SPEEDUP:.0f}x: "
        f"{met(extrapolated / full_s >= NAIVE_SPEEDUP)}"
    )
    changed_s = sum(b[1] for b in changed)
    missing = [b[0] for b in changed if not _incremental(b[3])]
    ratio = changed_s / full_s
    head = f"reports after the changes: {changed_s:.1f} s, {ratio:.3f} of the full build"
    if missing:
        print(f"{head}; incremental build not available for: {', '.join(missing)} "
              f"(built in full); target <= {INCREMENTAL_SHARE} of full: n/a")  # fmt: skip
    else:
        print(f"{head}; target <= {INCREMENTAL_SHARE} of full: "
              f"{met(ratio <= INCREMENTAL_SHARE)}")  # fmt: skip


def _incremental(rows: Any) -> bool:
    return isinstance(rows, dict) and bool(rows.get("incremental"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--product-tasks", type=int, default=50_000)
    parser.add_argument("--naive-subset", type=int, default=2_000)
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--changed-tasks", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)

    print(f"load average (1, 5, 15 min) at the start: {load_average()}")
    server = server_url()
    name = f"radiator_bench_{uuid.uuid4().hex[:8]}"
    with admin(server).connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    engine = create_engine(url)
    pictures = tempfile.mkdtemp(prefix="bench_pictures_")
    try:
        upgrade(engine)
        t0 = time.perf_counter()
        counts = generate(engine, args.product_tasks)
        print(f"generated in {time.perf_counter() - t0:.1f} s: {counts}")
        measure(engine, url.render_as_string(hide_password=False), args, counts, pictures)
        print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    finally:
        engine.dispose()
        shutil.rmtree(pictures, ignore_errors=True)
        if not args.keep:
            with admin(server).connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}")
    return 0


def measure(
    engine: sa.Engine, url: str, args: argparse.Namespace, counts: dict[str, int], pictures: str
) -> None:
    """Naive run, full build, naive run, changes + builds again, the other naive runs,
    load-all; then the tables and the verdicts."""
    naive: list[float] = []
    naive_n = 0

    def naive_run() -> None:
        nonlocal naive_n
        seconds, _, naive_n = run_in_child(url, "naive", args.naive_subset)
        naive.append(seconds)
        print(f"naive run {len(naive)}: {seconds:.1f} s (load {load_average()})", flush=True)

    naive_run()
    full_job = {"as_of": AS_OF.isoformat(), "pictures": pictures, "incremental": False}
    full = run_builds(url, full_job)
    print(f"full build done (load {load_average()})", flush=True)
    drawn = [(PICTURES[1], *run_in_child(url, PICTURES[0], job=full_job))]
    if args.naive_runs > 1:
        naive_run()
    t0 = time.perf_counter()
    ids = change_tasks(engine, counts["product_tasks"], args.changed_tasks)
    print(f"changed {len(ids)} product tasks in one transaction: {time.perf_counter() - t0:.2f} s")
    job = {"as_of": INCREMENTAL_AS_OF.isoformat(), "pictures": pictures, "incremental": True}
    changed = run_builds(url, job)
    while len(naive) < args.naive_runs:
        naive_run()
    load_s, load_rss, load_n = run_in_child(url, "load_all")
    full_s = print_builds("full build (as_of AS_OF)", full)
    print_builds("pictures of the full build (not in the totals)", drawn)
    changed_s = print_builds(
        f"after {len(ids)} changed tasks, as_of + 5 min (full=False where the builder takes it)",
        changed,
    )
    print(f"reports after the changes / full build: {changed_s / full_s:.3f}")
    product_growth = full[0][2][1] - full[0][2][0]
    load_growth = load_rss[1] - load_rss[0]
    print(
        f"baseline load-all ({load_n} stays as Python objects at once): {load_s:.1f} s, "
        f"peak RSS {load_rss[1]:.0f} MB (+{load_growth:.0f} MB for the data); the streamed "
        f"product pass grows by {product_growth:.0f} MB "
        f"({load_growth / max(product_growth, 1):.1f}x less)"
    )
    print_verdicts(full, changed, naive, naive_n, counts["product_tasks"])


if __name__ == "__main__":
    sys.exit(main())
