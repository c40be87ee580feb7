"""Incremental builds of report_time_in_status, report_testing_returns and
report_subepic_returns equal full builds: a seeded random series of sync-like changes
(stays appended, some starting after as_of, histories rewritten, tasks deleted, added or
moved to another key, sub-tasks moving between epics, an epic's title and team) and
as_of moves (minutes, hours, across midnight and a Monday), each followed by an
incremental build of the three in one database and a full build in its twin; the
tables must be identical (EXCEPT ALL both ways, across the two databases)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.emulator import generate_org
from radiator_assets.emulator.model import DEFAULT_NOW
from radiator_assets.metrics.config import MetricsConfig, SubepicReturns
from radiator_assets.reports.common import ReportInputs, ReportResult
from radiator_assets.reports.returns import build_testing_returns
from radiator_assets.reports.subepic_returns import build_subepic_returns
from radiator_assets.reports.time_in_status import build_time_in_status
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets_tests.reports.seed import load_org
from radiator_assets_tests.reports.test_refresh_task_reports import append_stay_at, change_round

BUILDS: dict[str, Callable[..., ReportResult]] = {
    "report_time_in_status": build_time_in_status,
    "report_testing_returns": build_testing_returns,
    "report_subepic_returns": build_subepic_returns,
}
START = DEFAULT_NOW - timedelta(days=5, hours=7)
STEPS = 14


@pytest.fixture(scope="module")
def config() -> MetricsConfig:
    return MetricsConfig.default().model_copy(
        update={"subepic_returns": SubepicReturns(start_date=date(2023, 1, 1))}
    )


@pytest.fixture(scope="module")
def twins(module_database: Callable[[], Engine]) -> tuple[Engine, Engine]:
    """Two databases holding the same emulated organisation (same ids)."""
    org = generate_org(seed=5, n_issues=200)
    engines = (module_database(), module_database())
    for engine in engines:
        load_org(engine, org)
    return engines


def build_all(engine: Engine, inputs: ReportInputs, **kw) -> dict[str, ReportResult]:
    return {table: build(engine, inputs, **kw) for table, build in BUILDS.items()}


def advance(rng: random.Random, as_of: datetime) -> timedelta:
    """Minutes (a sensor's ticks), hours, to just past the next midnight, or to just past
    the next Monday 00:00."""
    midnight = datetime.combine(as_of.date() + timedelta(days=1), datetime.min.time(), as_of.tzinfo)
    monday = midnight + timedelta(days=(7 - midnight.weekday()) % 7)
    return rng.choice(
        [
            timedelta(minutes=rng.randint(1, 20)),
            timedelta(minutes=rng.randint(1, 20)),
            timedelta(hours=rng.randint(1, 9)),
            midnight - as_of + timedelta(minutes=rng.randint(0, 30)),
            monday - as_of + timedelta(seconds=rng.randint(1, 600)),
        ]
    )


def soon_stay(engine: Engine, rng: random.Random, as_of: datetime) -> None:
    """A stay written now that starts after as_of (the next as_of may pass it)."""
    with unit_of_work(engine) as conn:
        task_id = conn.scalar(
            sa.text(
                "SELECT task_id FROM tracker_task_history GROUP BY task_id "
                "HAVING max(start_date) < :a ORDER BY task_id OFFSET :n LIMIT 1"
            ),
            {"a": as_of, "n": rng.randint(0, 50)},
        )
        at = as_of + timedelta(minutes=rng.randint(1, 40))
        append_stay_at(conn, task_id, rng.choice(["testing", "inProgress", "open"]), at)


def differences(incremental: Engine, full: Engine, table: str) -> list[tuple]:
    """Rows of `table` in one database and not the other (EXCEPT ALL both ways): the
    full build's rows are copied into a scratch table of the incremental database."""
    with full.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text(f"TABLE {table}"))]
    with unit_of_work(incremental) as conn:
        conn.execute(sa.text(f"CREATE TEMP TABLE want (LIKE {table}) ON COMMIT DROP"))
        if rows:
            marks = ", ".join(f":c{i}" for i in range(len(rows[0])))
            conn.execute(
                sa.text(f"INSERT INTO want VALUES ({marks})"),
                [{f"c{i}": v for i, v in enumerate(r)} for r in rows],
            )
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    f"SELECT 'incremental only', * FROM (TABLE {table} EXCEPT ALL TABLE want) a "
                    f"UNION ALL SELECT 'full only', * FROM (TABLE want EXCEPT ALL TABLE {table}) b"
                )
            )
        ]


def test_incremental_builds_equal_full_builds(twins, config: MetricsConfig):
    incremental, full = twins
    rng = random.Random(20261130)
    as_of = START
    first = build_all(incremental, ReportInputs.of(config, as_of))
    assert {r.extra["build"] for r in first.values()} == {"full"}
    kinds: list[tuple[str, str, int]] = []
    for step in range(STEPS):
        seed = rng.randrange(10**9)
        for engine in twins:  # the same changes in both databases
            with unit_of_work(engine) as conn:
                change_round(conn, random.Random(seed), step, as_of)
            soon_stay(engine, random.Random(seed), as_of)
        as_of += advance(rng, as_of)
        inputs = ReportInputs.of(config, as_of)
        results = build_all(incremental, inputs)
        build_all(full, inputs, full=True)
        for table, result in results.items():
            kinds.append((table, result.extra["build"], result.extra["tasks_recomputed"]))
            assert differences(incremental, full, table) == [], (step, table, result.extra)
            assert result.rows > 0, table
    assert sum(kind == "incremental" for _, kind, _ in kinds) >= STEPS * 2, kinds


def test_a_build_with_nothing_changed_recomputes_nothing(module_database, config: MetricsConfig):
    engine = module_database()
    load_org(engine, generate_org(seed=7, n_issues=60))
    inputs = ReportInputs.of(config, START)
    first = build_all(engine, inputs)
    assert {r.extra["build_reason"] for r in first.values()} == {"no previous build"}
    again = build_all(engine, inputs)
    for table, result in again.items():
        assert (result.extra["build"], result.extra["tasks_recomputed"]) == ("incremental", 0)
        assert result.rows == first[table].rows, table
    forced = build_all(engine, inputs, full=True)
    assert {r.extra["build_reason"] for r in forced.values()} == {"forced"}


def test_an_open_stay_is_recomputed_when_its_day_ticks_over(module_database, config: MetricsConfig):
    """No change in the warehouse and no instant of it between the two as_of (both after
    the organisation's last one): time in status recomputes exactly the tasks whose open
    stay's whole days moved; the other two reports none."""
    engine = module_database()
    load_org(engine, generate_org(seed=9, n_issues=60))
    quiet = DEFAULT_NOW + timedelta(days=3, hours=2)
    build_all(engine, ReportInputs.of(config, quiet))
    later = quiet + timedelta(hours=5)
    with engine.connect() as conn:
        ticked = conn.scalar(
            sa.text(
                "SELECT count(DISTINCT t.id) FROM tracker_tasks t "
                "JOIN LATERAL (SELECT start_date, end_date FROM tracker_task_history h "
                "WHERE h.task_id = t.id AND h.start_date <= :a ORDER BY start_date DESC, id DESC "
                "LIMIT 1) s ON s.end_date IS NULL OR s.end_date > :a "
                "WHERE t.deleted_at IS NULL AND t.out_of_query_since IS NULL "
                "AND floor(extract(epoch FROM :b - s.start_date) / 86400) "
                "<> floor(extract(epoch FROM :a - s.start_date) / 86400)"
            ),
            {"a": quiet, "b": later},
        )
    results = build_all(engine, ReportInputs.of(config, later))
    assert ticked > 0
    assert results["report_time_in_status"].extra["tasks_recomputed"] == ticked
    assert results["report_testing_returns"].extra["tasks_recomputed"] == 0
    assert results["report_subepic_returns"].extra["tasks_recomputed"] == 0


def test_the_daily_schedule_rebuilds_every_report_asset_in_full():
    import dagster as dg

    from radiator_assets.assets.reports import REPORT_ASSETS, ReportConfig
    from radiator_assets.automation.report_schedules import reports_schedule

    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2025, 5, 1, 6, tzinfo=DEFAULT_NOW.tzinfo)
    )
    ops = reports_schedule(context).run_config["ops"]
    assert set(ops) == {asset.op.name for asset in REPORT_ASSETS}
    assert {"report_time_in_status", "report_testing_returns", "report_subepic_returns"} <= set(ops)
    assert all(ReportConfig(**op["config"]).full_rebuild for op in ops.values())
