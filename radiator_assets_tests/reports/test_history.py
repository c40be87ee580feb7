"""Snapshots per as_of, the weekly backfill and the trends, on the ten hand-checked tasks.

Two week ends, both in Q1 2025 (2024-12-30..2025-03-30), values worked out by hand:

as of 2025-03-03 (closes the week of 02-24): finished in Q1: CPO-1 (Team Alpha, TTM 20,
DevLT 10) and CPO-4 (Team Gamma, TTM 38, DevLT 20). In discovery or delivery: CPO-3
(Alpha, external test since 03-01), CPO-2 (Beta, in development again since 02-01) and
CPO-5 (Beta, ready for development since 03-02). Created that week: CPO-5. In development,
unfinished: CPO-3 (DevLT 02-12..03-01 = 17) and CPO-2 (13).

as of 2025-03-17 (closes the week of 03-10): CPO-3 finished 03-10 (TTM 37, DevLT 17), so
Team Alpha's TTM p85 goes 20 -> 20 + 0.85 x 17 = 34.45 and DevLT p85 10 -> 15.95. In
discovery or delivery: CPO-7 (Alpha, created 03-10, in development since 03-15), CPO-2
and CPO-5 (Beta, in development since 03-05). In development, unfinished: CPO-7 (DevLT
to as_of 2), CPO-2 (13) and CPO-5 (12).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from matplotlib.image import imread
from sqlalchemy.engine import URL, Engine

from radiator_assets.assets.report_history import report_summary_history
from radiator_assets.automation.jobs import partition_range_tags
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.backfill import week_end
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.history import snapshot_day
from radiator_assets.reports.product import build_product_reports
from radiator_assets.reports.trends import render_trends, team_trend
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets.storage.report_models import (
    HISTORY_TABLES,
    REPORT_TABLES,
    ReportSummaryHistory,
    ReportTtmSummary,
)
from radiator_assets_tests.reports import fixture_ten
from radiator_assets_tests.reports.conftest import rows
from radiator_assets_tests.reports.test_as_of import table_contents

FIRST = datetime(2025, 3, 3, tzinfo=UTC)
SECOND = datetime(2025, 3, 17, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def build(engine: Engine, as_of: datetime, config: MetricsConfig | None = None) -> None:
    build_product_reports(engine, ReportInputs.of(config or fixture_ten.config(), as_of))


def team_rows(engine: Engine, as_of: datetime) -> dict[str, Any]:
    return {
        r.name: r
        for r in rows(
            engine,
            "SELECT * FROM report_summary_history WHERE as_of = :as_of AND dimension = 'team'",
            as_of=as_of,
        )
    }


def flow_rows(engine: Engine, as_of: datetime) -> dict[str, tuple]:
    return {
        r.team: (
            r.week_start,
            r.wip,
            r.throughput,
            r.arrivals,
            r.aging_over_p85,
            r.in_development,
            r.in_development_devlt_median,
            r.in_development_devlt_p85,
        )
        for r in rows(engine, "SELECT * FROM report_flow_history WHERE as_of = :a", a=as_of)
    }


def history_contents(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            name: sorted(conn.execute(sa.select(table)).all(), key=lambda r: tuple(map(str, r)))
            for name, table in HISTORY_TABLES.items()
        }


@pytest.fixture(scope="module")
def two_weeks(module_database: Callable[[], Engine]) -> Engine:
    """The ten tasks, built as of both week ends."""
    engine = module_database()
    fixture_ten.seed(engine)
    build(engine, FIRST)
    build(engine, SECOND)
    return engine


def test_the_snapshot_has_every_summary_column_and_the_as_of():
    summary = ReportTtmSummary.__table__.columns
    history = ReportSummaryHistory.__table__.columns
    assert [c.name for c in history] == ["as_of", *list(summary.keys())[:3], "current_period"] + [
        c.name for c in list(summary)[3:]
    ]
    for column in summary:
        copy = history[column.name]
        assert (str(copy.type), copy.nullable) == (str(column.type), column.nullable)
    assert all(c.info.get("ru") for table in HISTORY_TABLES.values() for c in table.columns)
    assert not set(HISTORY_TABLES) & set(REPORT_TABLES)


def test_two_builds_keep_two_snapshots_with_their_values(two_weeks: Engine):
    as_ofs = rows(two_weeks, "SELECT DISTINCT as_of FROM report_summary_history ORDER BY 1")
    assert [r.as_of for r in as_ofs] == [FIRST, SECOND]

    first, second = team_rows(two_weeks, FIRST), team_rows(two_weeks, SECOND)
    assert {n: (r.period, r.current_period, r.tasks) for n, r in first.items()} == {
        "Team Alpha": ("Q1 2025", True, 1),
        "Team Gamma": ("Q1 2025", True, 1),
    }
    assert {n: (r.period, r.current_period, r.tasks) for n, r in second.items()} == {
        "Team Alpha": ("Q1 2025", True, 2),
        "Team Gamma": ("Q1 2025", True, 1),
    }
    alpha_then, alpha_now = first["Team Alpha"], second["Team Alpha"]
    assert (alpha_then.ttm_p85, alpha_then.devlt_p85, alpha_then.ttm_max) == (20.0, 10.0, 20)
    assert (alpha_now.ttm_p85, alpha_now.devlt_p85, alpha_now.ttm_max) == pytest.approx(
        (34.45, 15.95, 37)
    )
    assert (alpha_now.ttm_median, alpha_now.ttm_over, alpha_now.devlt_over) == (28.5, 1, 1)
    assert first["Team Gamma"].ttm_p85 == second["Team Gamma"].ttm_p85 == 38.0
    leads = rows(
        two_weeks,
        "SELECT as_of, name, tasks FROM report_summary_history WHERE dimension = 'lead' "
        "ORDER BY as_of, name",
    )
    assert [(r.as_of, r.name, r.tasks) for r in leads] == [
        (FIRST, "Lead A", 1),
        (FIRST, "Lead C", 1),
        (SECOND, "Lead A", 2),
        (SECOND, "Lead C", 1),
    ]


def test_each_snapshot_keeps_wip_throughput_and_tasks_in_development_per_team(
    two_weeks: Engine,
):
    """Aging over p85: CPO-2 (Beta) in development for 30, then 44 days, over the p85 of
    Beta's closed in-development stays (its own 13 days); CPO-5 (1 day ready for
    development, then 12 in development) and the Alpha tasks stay within theirs."""
    assert flow_rows(two_weeks, FIRST) == {
        "Team Alpha": (date(2025, 2, 24), 1, 0, 0, 0, 1, 17.0, 17.0),
        "Team Beta": (date(2025, 2, 24), 2, 0, 1, 1, 1, 13.0, 13.0),
        "Team Gamma": (date(2025, 2, 24), 0, 0, 0, 0, 0, None, None),
    }
    second = flow_rows(two_weeks, SECOND)
    assert second["Team Alpha"] == (date(2025, 3, 10), 1, 1, 1, 0, 1, 2.0, 2.0)
    assert second["Team Beta"][:6] == (date(2025, 3, 10), 2, 0, 0, 1, 2)
    assert second["Team Beta"][6:] == pytest.approx((12.5, 12.85))
    assert second["Team Gamma"] == (date(2025, 3, 10), 0, 0, 0, 0, 0, None, None)


def test_the_snapshot_copies_the_summary_rows_of_its_build(two_weeks: Engine):
    summary = rows(two_weeks, "SELECT * FROM report_ttm_summary ORDER BY period, dimension, name")
    snapshot = rows(
        two_weeks,
        "SELECT * FROM report_summary_history WHERE as_of = :a ORDER BY period, dimension, name",
        a=SECOND,
    )
    columns = list(ReportTtmSummary.__table__.columns.keys())
    assert [tuple(getattr(r, c) for c in columns) for r in snapshot] == [tuple(r) for r in summary]


def test_a_rebuild_at_the_same_as_of_replaces_its_snapshot_and_keeps_the_others(
    module_database: Callable[[], Engine], two_weeks: Engine
):
    engine = module_database()
    fixture_ten.seed(engine)
    build(engine, FIRST)
    build(engine, SECOND)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE report_summary_history SET ttm_p85 = -1"))
        conn.execute(sa.text("UPDATE report_flow_history SET wip = -1"))
    build(engine, SECOND)
    assert team_rows(engine, SECOND)["Team Alpha"].ttm_p85 == pytest.approx(34.45)
    assert flow_rows(engine, SECOND)["Team Alpha"][1] == 1
    assert {r.ttm_p85 for r in team_rows(engine, FIRST).values()} == {-1}
    assert {v[1] for v in flow_rows(engine, FIRST).values()} == {-1}
    counts = rows(
        engine, "SELECT as_of, count(*) AS n FROM report_summary_history GROUP BY 1 ORDER BY 1"
    )
    assert [(r.as_of, r.n) for r in counts] == [(FIRST, 4), (SECOND, 4)]


def as_of_counts(engine: Engine) -> list[tuple[datetime, int, int]]:
    """Per snapshot: its as_of, its summary rows and its flow rows."""
    return [
        tuple(r)
        for r in rows(
            engine,
            "SELECT s.as_of, s.n, f.n FROM "
            "(SELECT as_of, count(*) AS n FROM report_summary_history GROUP BY 1) s "
            "FULL JOIN (SELECT as_of, count(*) AS n FROM report_flow_history GROUP BY 1) f "
            "USING (as_of) ORDER BY 1",
        )
    ]


def test_the_day_of_a_snapshot_is_the_utc_day_of_its_last_instant():
    monday = datetime(2025, 3, 17, tzinfo=UTC)
    assert snapshot_day(monday) == (datetime(2025, 3, 16, tzinfo=UTC), monday)
    assert snapshot_day(datetime(2025, 3, 17, 9, 30, tzinfo=UTC)) == (
        monday,
        datetime(2025, 3, 18, tzinfo=UTC),
    )
    moscow = timezone(timedelta(hours=3))  # 01:00 in Moscow on the 18th is the 17th in UTC
    assert snapshot_day(datetime(2025, 3, 18, 1, tzinfo=moscow))[0] == monday


def test_builds_on_one_utc_day_keep_one_snapshot_the_newest(
    module_database: Callable[[], Engine],
):
    engine = module_database()
    fixture_ten.seed(engine)
    sunday_noon, monday_9, monday_1530 = (
        datetime(2025, 3, 16, 12, tzinfo=UTC),
        datetime(2025, 3, 17, 9, tzinfo=UTC),
        datetime(2025, 3, 17, 15, 30, tzinfo=UTC),
    )
    build(engine, FIRST)
    build(engine, sunday_noon)
    build(engine, monday_9)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE report_summary_history SET ttm_p85 = -1"))
    assert as_of_counts(engine) == [(FIRST, 4, 3), (sunday_noon, 4, 3), (monday_9, 4, 3)]

    build(engine, monday_1530)  # replaces 09:00: the same UTC day
    build(engine, SECOND)  # Monday 00:00, a weekly partition's: closes Sunday, replaces noon

    assert as_of_counts(engine) == [(FIRST, 4, 3), (SECOND, 4, 3), (monday_1530, 4, 3)]
    assert team_rows(engine, monday_1530)["Team Alpha"].ttm_p85 == pytest.approx(34.45)
    assert {r.ttm_p85 for r in team_rows(engine, FIRST).values()} == {-1}  # untouched

    build(engine, monday_9)  # an earlier as_of built later is the newest build of the day
    assert as_of_counts(engine) == [(FIRST, 4, 3), (SECOND, 4, 3), (monday_9, 4, 3)]


def test_the_week_over_week_trend_is_the_series_of_the_snapshots(two_weeks: Engine):
    with two_weeks.connect() as conn:
        weekly = team_trend(conn, "week")
    assert [
        (r.team, r.bucket, r.as_of, r.ttm_p85, r.devlt_p85, r.wip, r.prev_ttm_p85, r.prev_wip)
        for r in weekly
    ] == [
        ("Team Alpha", date(2025, 2, 24), FIRST, 20.0, 10.0, 1, None, None),
        ("Team Alpha", date(2025, 3, 10), SECOND, pytest.approx(34.45), 15.95, 1, 20.0, 1),
        ("Team Beta", date(2025, 2, 24), FIRST, None, None, 2, None, None),
        ("Team Beta", date(2025, 3, 10), SECOND, None, None, 2, None, 2),
        ("Team Gamma", date(2025, 2, 24), FIRST, 38.0, 20.0, 0, None, None),
        ("Team Gamma", date(2025, 3, 10), SECOND, 38.0, 20.0, 0, 38.0, 0),
    ]


def test_month_to_month_compares_the_newest_snapshot_of_each_month(
    module_database: Callable[[], Engine],
):
    """Snapshots on 02-28, 03-12, 03-17 and 04-01 00:00 (which closes March). In
    development, unfinished: on 02-28 CPO-3 (Alpha, DevLT 02-12..02-28 = 16) and CPO-2
    (Beta, 13); on 04-01 CPO-7 (Alpha, 17), CPO-2 and CPO-5 (Beta, 13 and 15)."""
    engine = module_database()
    fixture_ten.seed(engine)
    for day in ("02-28", "03-12", "03-17", "04-01"):
        build(engine, fixture_ten.d(day))
    with engine.connect() as conn:
        weekly = team_trend(conn, "week")
        monthly = team_trend(conn, "month")
    assert [(r.bucket, r.as_of) for r in weekly if r.team == "Team Beta"] == [
        (date(2025, 2, 24), fixture_ten.d("02-28")),
        (date(2025, 3, 10), fixture_ten.d("03-17")),
        (date(2025, 3, 31), fixture_ten.AS_OF),  # Tuesday 00:00 closes Monday 03-31
    ]
    assert [
        (
            r.team,
            r.bucket,
            r.as_of,
            r.period,
            r.ttm_p85,
            r.in_development,
            r.in_development_devlt_median,
            r.prev_in_development,
            r.prev_in_development_devlt_median,
            r.prev_ttm_p85,
        )
        for r in monthly
    ] == [
        (
            "Team Alpha",
            date(2025, 2, 1),
            fixture_ten.d("02-28"),
            "Q1 2025",
            20.0,
            1,
            16.0,
            None,
            None,
            None,
        ),
        ("Team Alpha", date(2025, 3, 1), fixture_ten.AS_OF, None, None, 1, 17.0, 1, 16.0, 20.0),
        (
            "Team Beta",
            date(2025, 2, 1),
            fixture_ten.d("02-28"),
            None,
            None,
            1,
            13.0,
            None,
            None,
            None,
        ),
        ("Team Beta", date(2025, 3, 1), fixture_ten.AS_OF, None, None, 2, 14.0, 1, 13.0, None),
        (
            "Team Gamma",
            date(2025, 2, 1),
            fixture_ten.d("02-28"),
            "Q1 2025",
            38.0,
            0,
            None,
            None,
            None,
            None,
        ),
        ("Team Gamma", date(2025, 3, 1), fixture_ten.AS_OF, None, None, 0, None, 0, None, 38.0),
    ]
    with engine.connect() as conn, pytest.raises(ValueError, match="grain"):
        team_trend(conn, "day")


def test_the_trend_chart_is_a_picture_of_the_series(two_weeks: Engine, tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), SECOND)
    path = render_trends(two_weeks, inputs, tmp_path)
    data = path.read_bytes()
    assert path.name == "trends.png" and data[:8] == PNG_SIGNATURE
    assert len(data) > 20_000
    pixels = imread(path)
    height, width = pixels.shape[:2]
    assert 1000 <= width <= 1250 and 850 <= height <= 1050
    colours = {tuple(p) for p in pixels.reshape(-1, pixels.shape[2])[::97].tolist()}
    assert len(colours) > 20  # lines, markers and text, not a blank canvas
    assert list(tmp_path.iterdir()) == [path]  # written under its name, no temporary left


def test_the_trend_chart_says_when_there_is_no_snapshot(engine: Engine, tmp_path: Path):
    path = render_trends(engine, ReportInputs.of(fixture_ten.config(), SECOND), tmp_path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE


# --------------------------------------------------------------------------- backfill


@pytest.fixture
def resources(database_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The warehouse of this test; no metrics file, so the bundled configuration."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RADIATOR_HOME", str(tmp_path))
    monkeypatch.setenv("RADIATOR_CONFIG", str(tmp_path / "no-such-radiator.yaml"))
    return {
        "warehouse": WarehouseResource(
            database_url=database_url.render_as_string(hide_password=False)
        ),
        "tracker": TrackerResource(),
    }


def test_a_backfill_of_weeks_equals_builds_at_their_ends_and_leaves_the_reports(
    resources: dict[str, Any],
    engine: Engine,
    module_database: Callable[[], Engine],
    tmp_path: Path,
):
    config = MetricsConfig.default()
    fixture_ten.seed(engine)
    build(engine, fixture_ten.AS_OF, config)
    reports_before = table_contents(engine)
    history_before = history_contents(engine)

    result = dg.materialize(
        [report_summary_history],
        resources=resources,
        tags=partition_range_tags("2025-02-24", "2025-03-10"),
    )
    assert result.success
    materialized = result.get_asset_materialization_events()
    assert sorted(e.partition for e in materialized) == ["2025-02-24", "2025-03-03", "2025-03-10"]
    metadata = materialized[0].event_specific_data.materialization.metadata  # type: ignore[union-attr]
    assert metadata["weeks"].value == {"2025-02-24": 4, "2025-03-03": 4, "2025-03-10": 4}
    # drawing is report_pictures' job: the backfill draws nothing
    assert not any(key.startswith("picture_") for key in metadata)
    assert not (tmp_path / "reports" / "trends.png").exists()

    assert table_contents(engine) == reports_before
    ends = [week_end(k) for k in ("2025-02-24", "2025-03-03", "2025-03-10")]
    assert ends == [FIRST, datetime(2025, 3, 10, tzinfo=UTC), SECOND]

    built = module_database()
    fixture_ten.seed(built)
    for as_of in (fixture_ten.AS_OF, *ends):
        build(built, as_of, config)
    assert history_contents(engine) == history_contents(built)
    assert history_contents(engine) != history_before

    again = dg.materialize(
        [report_summary_history], resources=resources, partition_key="2025-03-10"
    )
    assert again.success
    assert history_contents(engine) == history_contents(built)


def test_the_readme_query_gives_the_month_to_month_series(two_weeks: Engine):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    query = readme.split("Week over week or month to month is a query", 1)[1]
    query = query.split("```sql\n", 1)[1].split("```", 1)[0]
    with two_weeks.connect() as conn:
        documented = conn.execute(sa.text(query)).all()
        monthly = team_trend(conn, "month")
    assert [(r.bucket, r.team, r.ttm_p85, r.wip, r.prev_wip) for r in documented] == [
        (r.bucket, r.team, r.ttm_p85, r.wip, r.prev_wip) for r in monthly
    ]
    assert [(r.team, r.bucket, r.in_development) for r in documented] == [
        ("Team Alpha", date(2025, 3, 1), 1),
        ("Team Beta", date(2025, 3, 1), 2),
        ("Team Gamma", date(2025, 3, 1), 0),
    ]
