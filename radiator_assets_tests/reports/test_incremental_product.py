"""Incremental product builds equal full ones: a seeded random series of syncs (stays
appended, histories rewritten, tasks deleted, moved out of the query or added, open
stays closed, linked implementation tasks changed, authors changed) and as_of moves
(minutes, hours, across days and Mondays), each followed by an incremental build in
one database and a full build in a twin; the four tables must be identical."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.emulator import generate_org
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.product import PRODUCT_REPORTS, build_product_reports
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets_tests.reports.seed import load_org

START = datetime(2025, 5, 15, 12, tzinfo=UTC)  # inside the org's history: clipping matters
STEPS = 24
DAY, MINUTE = timedelta(days=1), timedelta(minutes=1)
ORDER = {
    "report_ttm_details": "task_key",
    "report_ttm_summary": "period, dimension, name",
    "report_flow_weekly": "team, week_start",
    "report_aging_wip": "task_key",
}


@pytest.fixture(scope="module")
def config() -> MetricsConfig:
    config = MetricsConfig.default()
    authors = {f"Author {i}": f"Team {'ABCD'[i % 4]}" for i in range(1, 41, 3)}
    teams = config.teams.model_copy(update={"authors": authors, "leads": {"Team A": "Lead A"}})
    return config.model_copy(update={"teams": teams})


@pytest.fixture(scope="module")
def twins(module_database) -> tuple[Engine, Engine]:
    """Two databases holding the same emulated organisation (300 product tasks) and a
    few implementation tasks linked to product tasks."""
    org = generate_org(seed=5, n_issues=300)
    engines = (module_database(), module_database())
    for engine in engines:
        load_org(engine, org)
        # keys the organisation does not have: a second live row under an existing key
        # would let `key_id` pick different tasks in the two twins
        add_implementation_tasks(engine, 9001)
    return engines


def sql(engines: tuple[Engine, ...], statement: str, **params) -> None:
    for engine in engines:
        with unit_of_work(engine) as conn:
            conn.execute(sa.text(statement), params)


def add_implementation_tasks(engine: Engine, first: int = 1) -> None:
    """FULLSTACK-`first`.. (six), each linked (relates) to a product task, with a testing
    return."""
    with unit_of_work(engine) as conn:
        products = conn.execute(
            sa.text("SELECT tracker_id, key FROM tracker_tasks ORDER BY key LIMIT 6")
        ).all()
        for i, (tracker_id, key) in enumerate(products, 1):
            link = {
                "type": {"id": "relates"},
                "direction": "outward",
                "object": {"id": tracker_id, "key": key},
            }
            task_id = conn.scalar(
                sa.text(
                    "INSERT INTO tracker_tasks (tracker_id, key, queue, summary, status, author, "
                    "links, full_data, created_at, task_updated_at) VALUES (:tid, :key, "
                    "'FULLSTACK', 'impl', 'Testing', 'Author 1', CAST(:links AS jsonb), '{}', "
                    ":created, :created) RETURNING id"
                ),
                {
                    "tid": f"impl-{first + i - 1}",
                    "key": f"FULLSTACK-{first + i - 1}",
                    "links": json.dumps([link]),
                    "created": START - timedelta(days=30),
                },
            )
            add_stays(
                conn,
                task_id,
                START - timedelta(days=30),
                ["In Progress", "Testing", "In Progress", "Testing"],
                timedelta(days=2),
            )


def touch(conn, task_id: int) -> None:
    """Write the task row, as the sync does in every transaction that writes its history
    (`sync/history.py` claims it): the builds' fingerprint is the task row's xmin."""
    conn.execute(
        sa.text("UPDATE tracker_tasks SET history_stale = false WHERE id = :t"), {"t": task_id}
    )


def add_stays(conn, task_id: int, start: datetime, statuses: list[str], step: timedelta) -> None:
    """Append contiguous stays (the last open) from `start`, after closing the open one."""
    touch(conn, task_id)
    conn.execute(
        sa.text(
            "UPDATE tracker_task_history SET end_date = :at WHERE task_id = :t AND end_date IS NULL"
        ),
        {"at": start, "t": task_id},
    )
    for n, status in enumerate(statuses):
        conn.execute(
            sa.text(
                "INSERT INTO tracker_task_history (task_id, tracker_id, status, status_key, "
                "start_date, end_date) VALUES (:t, 'x', :s, :s, :a, :b)"
            ),
            {
                "t": task_id,
                "s": status,
                "a": start + n * step,
                "b": None if n == len(statuses) - 1 else start + (n + 1) * step,
            },
        )


def statuses(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.scalars(sa.text("SELECT DISTINCT status FROM tracker_task_history")))


def pick(
    engine: Engine, rng: random.Random, where: str = "queue = 'CPO'"
) -> tuple[int, str] | None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT id, key FROM tracker_tasks WHERE {where} AND deleted_at IS NULL "
                "AND out_of_query_since IS NULL ORDER BY key"
            )
        ).all()
    return tuple(rng.choice(rows)) if rows else None


def key_id(engine: Engine, key: str) -> int | None:
    with engine.connect() as conn:
        ids = conn.scalars(sa.text("SELECT id FROM tracker_tasks WHERE key = :k"), {"k": key})
        found = ids.all()
    assert len(found) <= 1, f"{key} names {len(found)} task rows: the twins could differ"
    return found[0] if found else None


def random_change(engines, rng: random.Random, as_of: datetime, names: list[str], n: int) -> str:
    """One random sync-like change, the same in both databases (by key)."""
    kind = rng.choice(
        [
            "append",
            "append",
            "rewrite",
            "delete",
            "out_of_query",
            "new",
            "close",
            "linked",
            "author",
            "soon",
            "soon",
        ]
    )
    where = "queue = 'FULLSTACK'" if kind == "linked" else "queue = 'CPO'"
    if kind == "soon":  # a task whose history ends before as_of
        where += (
            " AND id IN (SELECT task_id FROM tracker_task_history GROUP BY task_id "
            f"HAVING max(start_date) < '{as_of.isoformat()}')"
        )
    target = pick(engines[0], rng, where)
    if target is None:
        return "none"
    key = target[1]
    moment = as_of + timedelta(minutes=rng.randint(-3000, 600))
    if kind == "soon":  # stays after as_of that the next build's as_of passes
        moment, kind = as_of + timedelta(seconds=rng.randint(1, 50)), "append"
    new = [rng.choice(names) for _ in range(rng.randint(1, 3))]
    if kind == "linked":
        new = ["Testing", "In Progress", "Testing"][: rng.randint(1, 3)]
    step = timedelta(minutes=rng.choice([2, 30, 900, 3000]))
    status = rng.choice(names)
    author = f"Author {rng.randint(1, 40)}"
    for engine in engines:
        task_id = key_id(engine, key)
        with unit_of_work(engine) as conn:
            if kind in ("append", "linked"):
                last = conn.scalar(
                    sa.text("SELECT max(start_date) FROM tracker_task_history WHERE task_id = :t"),
                    {"t": task_id},
                )
                at = max(moment, (last or moment) + timedelta(minutes=1))
                add_stays(conn, task_id, at, new, step)
            elif kind == "rewrite":
                touch(conn, task_id)
                conn.execute(
                    sa.text(
                        "UPDATE tracker_task_history SET status = :s, "
                        "start_date = start_date - interval '1 hour' "
                        "WHERE id = (SELECT max(id) FROM tracker_task_history WHERE task_id = :t)"
                    ),
                    {"t": task_id, "s": status},
                )
            elif kind == "delete":
                conn.execute(
                    sa.text("UPDATE tracker_tasks SET deleted_at = :m WHERE id = :t"),
                    {"t": task_id, "m": moment},
                )
            elif kind == "out_of_query":
                conn.execute(
                    sa.text("UPDATE tracker_tasks SET out_of_query_since = :m WHERE id = :t"),
                    {"t": task_id, "m": moment},
                )
            elif kind == "close":  # the sync closes a stay only by opening the next one
                opened = conn.scalar(
                    sa.text(
                        "SELECT max(start_date) FROM tracker_task_history "
                        "WHERE task_id = :t AND end_date IS NULL"
                    ),
                    {"t": task_id},
                )
                if opened is not None:
                    add_stays(conn, task_id, opened + timedelta(minutes=7), [status], step)
            elif kind == "author":
                conn.execute(
                    sa.text("UPDATE tracker_tasks SET author = :a WHERE id = :t"),
                    {"t": task_id, "a": author},
                )
            if kind == "new":
                new_id = conn.scalar(
                    sa.text(
                        "INSERT INTO tracker_tasks (tracker_id, key, queue, summary, status, "
                        "author, links, full_data, created_at, task_updated_at) "
                        "VALUES (:tid, :key, 'CPO', 'new', 'x', "
                        ":author, '[]', '{}', :c, :c) RETURNING id"
                    ),
                    {"tid": f"new-{n}", "key": f"CPO-{9000 + n}", "author": author, "c": moment},
                )
                add_stays(conn, new_id, moment, new, step)
    return kind


def table_rows(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            table: [
                tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))
            ]
            for table, order in ORDER.items()
        }


def advance(rng: random.Random) -> timedelta:
    """Mostly minutes and hours (a sensor's ticks), sometimes across a day or a Monday."""
    return rng.choice(
        [
            timedelta(minutes=rng.randint(1, 30)),
            timedelta(minutes=rng.randint(1, 30)),
            timedelta(minutes=rng.randint(1, 30)),
            timedelta(hours=rng.randint(1, 3)),
            timedelta(hours=rng.randint(1, 10)),
            timedelta(hours=rng.randint(1, 10)),
            timedelta(hours=rng.randint(12, 30)),
            timedelta(days=rng.randint(2, 8)),
        ]
    )


def test_incremental_builds_equal_full_builds(twins, config: MetricsConfig):
    incremental, full = twins
    rng = random.Random(20261201)
    names = statuses(incremental)
    as_of = START
    first = build_product_reports(incremental, ReportInputs.of(config, as_of))
    assert first[PRODUCT_REPORTS[0]].extra["build"] == "full"
    kinds: dict[str, list] = {"incremental": [], "full": []}
    for step in range(STEPS):
        for _ in range(rng.randint(1, 3)):
            random_change(twins, rng, as_of, names, step * 10 + _)
        as_of += advance(rng)
        inputs = ReportInputs.of(config, as_of)
        result = build_product_reports(incremental, inputs)[PRODUCT_REPORTS[0]]
        kinds[result.extra["build"]].append(
            (result.extra["build_reason"], result.extra["tasks_recomputed"])
        )
        build_product_reports(full, inputs, full=True)
        got, want = table_rows(incremental), table_rows(full)
        for table in ORDER:
            assert got[table] == want[table], (step, table, result.extra)
    assert len(kinds["incremental"]) >= STEPS // 3, kinds


def test_full_is_chosen_when_it_must_be_and_nothing_changed_recomputes_nothing(
    module_database, config: MetricsConfig
):
    engine = module_database()
    load_org(engine, generate_org(seed=7, n_issues=80))
    as_of = START

    def build(when: datetime, cfg: MetricsConfig = config, **kw) -> dict:
        result = build_product_reports(engine, ReportInputs.of(cfg, when), **kw)
        return result[PRODUCT_REPORTS[0]].extra

    assert build(as_of)["build_reason"] == "no previous build"
    same = build(as_of)
    assert (same["build"], same["tasks_recomputed"]) == ("incremental", 0)
    assert build(as_of, full=True)["build_reason"] == "forced"
    assert build(as_of - timedelta(minutes=1))["build_reason"] == "as_of went back"
    changed = config.model_copy(update={"min_stay_seconds": config.min_stay_seconds + 60})
    assert build(as_of, changed)["build_reason"] == "configuration changed"
    assert build(as_of, changed)["tasks_recomputed"] == 0
    monday = datetime(2025, 5, 19, 0, 0, 1, tzinfo=UTC)  # the flow gets a week
    assert build(monday, changed)["build_reason"] == "grain changed"


def test_the_daily_schedule_rebuilds_the_product_reports_in_full():
    from radiator_assets.assets.reports import ReportConfig
    from radiator_assets.automation.report_schedules import reports_schedule

    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2025, 5, 1, 6, tzinfo=UTC)
    )
    request = reports_schedule(context)
    op_config = request.run_config["ops"]["product_reports"]["config"]
    assert ReportConfig(**op_config).full_rebuild is True
    assert ReportConfig().full_rebuild is False


def test_a_stay_that_as_of_passes_is_recomputed(module_database, config: MetricsConfig):
    """A stay written before a build but starting after its as_of: the next build, whose
    as_of passes it, recomputes the task (no fingerprint changed in between)."""
    engine = module_database()
    load_org(engine, generate_org(seed=9, n_issues=80))
    as_of = START
    build_product_reports(engine, ReportInputs.of(config, as_of))
    with unit_of_work(engine) as conn:
        task_id = conn.scalar(
            sa.text(
                "SELECT h.task_id FROM tracker_task_history h JOIN tracker_tasks t "
                "ON t.id = h.task_id WHERE t.queue = 'CPO' GROUP BY h.task_id "
                "HAVING max(h.start_date) < :a "
                "ORDER BY h.task_id LIMIT 1"
            ),
            {"a": as_of - timedelta(days=1)},
        )
        add_stays(conn, task_id, as_of + timedelta(seconds=30), ["Done"], timedelta(hours=1))
    build_product_reports(engine, ReportInputs.of(config, as_of))  # the stay is after as_of
    later = ReportInputs.of(config, as_of + timedelta(minutes=1))
    extra = build_product_reports(engine, later)[PRODUCT_REPORTS[0]].extra
    assert extra["build"] == "incremental", extra
    incremental = table_rows(engine)
    build_product_reports(engine, later, full=True)
    assert table_rows(engine) == incremental


def product_returns(engine: Engine, implementation_key: str) -> int:
    """returns_testing of the product task `implementation_key` is linked to."""
    with engine.connect() as conn:
        return conn.scalar(
            sa.text(
                "SELECT d.returns_testing FROM report_ttm_details d JOIN tracker_tasks t "
                "ON t.links @> jsonb_build_array(jsonb_build_object('object', "
                "jsonb_build_object('key', d.task_key))) WHERE t.key = :k"
            ),
            {"k": implementation_key},
        )


def test_a_linked_tasks_new_stays_move_its_products_returns(module_database, config: MetricsConfig):
    """Stays of a linked task written in the past (its fingerprint changes) and written
    ahead of as_of (no fingerprint changes when as_of passes them) change the returns
    of its product task as a full build has them."""
    engine = module_database()
    load_org(engine, generate_org(seed=11, n_issues=80))
    add_implementation_tasks(engine, 9001)  # keys the organisation does not have
    as_of = START

    def build_and_compare(when: datetime) -> None:
        inputs = ReportInputs.of(config, when)
        extra = build_product_reports(engine, inputs)[PRODUCT_REPORTS[0]].extra
        assert extra["build"] == "incremental", extra
        incremental = table_rows(engine)
        build_product_reports(engine, inputs, full=True)
        assert table_rows(engine) == incremental

    build_product_reports(engine, ReportInputs.of(config, as_of))
    shown = [f"FULLSTACK-{i}" for i in range(9001, 9007)]
    linked = next(k for k in shown if product_returns(engine, k) is not None)
    returns = product_returns(engine, linked)
    again = ["In Progress", "Testing"]
    with unit_of_work(engine) as conn:
        add_stays(conn, key_id(engine, linked), as_of - 2 * DAY, again, DAY)
    build_and_compare(as_of + timedelta(minutes=1))
    assert product_returns(engine, linked) == returns + 1
    with unit_of_work(engine) as conn:
        add_stays(conn, key_id(engine, linked), as_of + timedelta(minutes=5), again, MINUTE)
    build_and_compare(as_of + timedelta(minutes=2))
    assert product_returns(engine, linked) == returns + 1
    build_and_compare(as_of + timedelta(minutes=10))
    assert product_returns(engine, linked) == returns + 2
    with unit_of_work(engine) as conn:  # the link goes: no stay changes
        link = conn.scalar(sa.text("SELECT links FROM tracker_tasks WHERE key = :k"), {"k": linked})
        conn.execute(sa.text("UPDATE tracker_tasks SET links = '[]' WHERE key = :k"), {"k": linked})
    build_and_compare(as_of + timedelta(minutes=11))
    assert product_returns(engine, linked) is None
    with unit_of_work(engine) as conn:  # it comes back, stored on the product task's side
        product = link[0]["object"]["key"]
        back = [{"type": {"id": "relates"}, "object": {"key": linked}}]
        conn.execute(
            sa.text("UPDATE tracker_tasks SET links = links || CAST(:l AS jsonb) WHERE key = :k"),
            {"k": product, "l": json.dumps(back)},
        )
    build_and_compare(as_of + timedelta(minutes=12))
    with engine.connect() as conn:
        shown = conn.scalar(
            sa.text("SELECT returns_testing FROM report_ttm_details WHERE task_key = :k"),
            {"k": product},
        )
    assert shown >= returns + 2
