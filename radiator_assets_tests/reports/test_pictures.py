"""The report pictures: the numbers that go into them (heatmap grids with the WiP
column, the activity table and its arrows) and the PNG files themselves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from matplotlib import image
from sqlalchemy.engine import Engine

from radiator_assets.metrics.config import MetricsConfig, Teams
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.pictures import (
    MAX_HEATMAP_TEAMS,
    WIP_SQL,
    HeatCell,
    activity_lines,
    heatmap_grid,
    heatmap_size,
    heatmap_teams,
    render_activity,
    render_activity_pictures,
    render_heatmap,
    render_product_pictures,
    stored_key,
    team_label,
    trend_arrow,
)
from radiator_assets.reports.trends import (
    MAX_TREND_TEAMS,
    render_trend_chart,
    time_axis,
    trend_teams,
)
from radiator_assets.reports.writing import replace_rows
from radiator_assets.storage.report_models import ReportTtmDetails
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets_tests.reports import fixture_ten
from radiator_assets_tests.reports.conftest import rows

PERIODS = ["Q1 2025", "Q2 2025"]


def summary_row(period: str, team: str, **values: Any) -> SimpleNamespace:
    """A report_ttm_summary row of dimension 'team': the given columns, others empty."""
    row = {f"{m}_{s}": None for m in ("ttm", "tail", "devlt") for s in ("mean", "median", "p85")}
    row |= {f"{m}_count": 0 for m in ("ttm", "tail", "devlt")}
    return SimpleNamespace(period=period, name=team, **(row | values))


def wip_row(team: str, **values: Any) -> SimpleNamespace:
    return SimpleNamespace(**vars(summary_row("", team, **values)))


# --------------------------------------------------------------------------- heatmap grid


def test_heatmap_grid_periods_in_configuration_order_then_wip_and_no_data_is_not_zero():
    summary = [
        summary_row("Q2 2025", "Beta", ttm_count=2, ttm_p85=41.5, tail_count=0),
        summary_row("Q1 2025", "Alpha", ttm_count=3, ttm_p85=0.0, tail_count=3, tail_p85=7.0),
        summary_row("Q2 2025", "Alpha", ttm_count=1, ttm_p85=12.0),
    ]
    wip = [wip_row("Gamma", ttm_count=4, ttm_p85=95.2)]
    ttm = heatmap_grid(summary, wip, "ttm", "p85", PERIODS)
    assert ttm.teams == ["Alpha", "Beta", "Gamma"]
    assert ttm.columns == ["Q1 2025", "Q2 2025", "WiP"]
    assert ttm.cells == [
        [HeatCell(3, 0.0), HeatCell(1, 12.0), None],  # a measured 0 is a cell
        [None, HeatCell(2, 41.5), None],
        [None, None, HeatCell(4, 95.2)],
    ]
    tail = heatmap_grid(summary, wip, "tail", "p85", PERIODS)
    # Beta's Q2 row exists but no task has a Tail: no data, like a missing row
    assert tail.cells == [[HeatCell(3, 7.0), None, None], [None, None, None], [None, None, None]]


def test_heatmap_grid_takes_the_statistic_asked_for():
    summary = [summary_row("Q1 2025", "Alpha", ttm_count=5, ttm_mean=3.0, ttm_median=2.0)]
    mean = heatmap_grid(summary, [], "ttm", "mean", PERIODS)
    median = heatmap_grid(summary, [], "ttm", "median", PERIODS)
    assert (mean.cells, median.cells) == ([[HeatCell(5, 3.0), None]], [[HeatCell(5, 2.0), None]])


def test_a_value_that_is_no_number_is_no_data_not_nan():
    summary = [summary_row("Q1 2025", "Alpha", ttm_count=3, ttm_mean=float("nan"))]
    wip = [wip_row("Alpha", ttm_count=2, ttm_mean=float("nan"))]
    assert heatmap_grid(summary, wip, "ttm", "mean", PERIODS).cells == [[None, None]]


def test_the_heatmap_shows_the_teams_with_the_most_tasks_up_to_its_limit():
    summary = [
        summary_row("Q1 2025", "Alpha", ttm_count=3),
        summary_row("Q2 2025", "Alpha", ttm_count=1),
        summary_row("Q1 2025", "Beta", ttm_count=5),
        summary_row("Q1 2025", "Delta", ttm_count=2),
        summary_row("Q1 2025", "Gamma", ttm_count=1),
    ]
    wip = [wip_row("Gamma", ttm_count=1), wip_row("Epsilon", ttm_count=9)]
    # Epsilon 9, Beta 5, Alpha 4, Delta 2, Gamma 2 (ties by name)
    assert heatmap_teams(summary, wip, limit=3) == ({"Epsilon", "Beta", "Alpha"}, 2)
    assert heatmap_teams(summary, wip, limit=4) == ({"Epsilon", "Beta", "Alpha", "Delta"}, 1)
    assert heatmap_teams(summary, wip) == ({"Alpha", "Beta", "Delta", "Epsilon", "Gamma"}, 0)
    # the limit is what fits: 1.5 + 3 x (1 + 0.5 x 23) = 39 inches, 24 teams would be 40.5
    assert MAX_HEATMAP_TEAMS == 23
    assert heatmap_size(MAX_HEATMAP_TEAMS, 3)[1] == 39.0


def test_long_team_names_are_wrapped_and_shortened_for_labels():
    name = "Команда платёжных сервисов и интеграций с внешними партнёрами (бывшая «Биллинг 2.0»)"
    assert team_label(name) == "Команда платёжных сервисов и\nинтеграций с внешними …"
    assert all(len(line) <= 28 for line in team_label(name).splitlines())
    assert team_label("Team Alpha") == "Team Alpha"
    assert team_label("Б" * 40) == "Б" * 28 + "\n" + "Б" * 12


def details_row(key: str, team: str, *, finished: bool, developed: bool, **m: Any) -> tuple:
    values = {
        "task_key": key,
        "author": "someone",
        "team": team,
        "lead": "Lead",
        "period": "Q1 2025" if finished else None,
        "pause": 0,
        "discovery_backlog_days": 0,
        "ready_for_dev_days": 0,
        "returns_testing": 0,
        "returns_external_test": 0,
        "returns_total": 0,
        "created": datetime(2025, 1, 1, tzinfo=UTC),
        "went_through_development": developed,
        "finished": finished,
    } | m
    return tuple(values.get(c.name) for c in ReportTtmDetails.__table__.columns)


def test_wip_is_unfinished_developed_tasks_with_count_mean_median_p85_in_sql(engine: Engine):
    details = [
        *(
            details_row(f"X-{v}", "X", finished=False, developed=True, ttm=v, devlt=10 * v)
            for v in (5, 1, 4, 2, 3)
        ),
        details_row("X-done", "X", finished=True, developed=True, ttm=500, devlt=500),
        details_row("X-waiting", "X", finished=False, developed=False, ttm=700),
        *(
            details_row(f"Y-{v}", "Y", finished=False, developed=True, ttm=v, tail=0)
            for v in (1, 2, 3)
        ),
    ]
    with unit_of_work(engine) as conn:
        replace_rows(conn, ReportTtmDetails.__table__, details)
    wip = {r.name: r for r in rows(engine, WIP_SQL)}
    assert set(wip) == {"X", "Y"}
    x, y = wip["X"], wip["Y"]
    assert (x.ttm_count, x.ttm_mean, x.ttm_median, x.ttm_p85) == (5, 3.0, 3.0, 4.4)
    assert (x.devlt_count, x.devlt_mean, x.devlt_median) == (5, 30.0, 30.0)
    assert x.devlt_p85 == pytest.approx(44.0)
    assert (x.tail_count, x.tail_median) == (0, None)
    assert (y.ttm_count, y.ttm_mean, y.ttm_median, y.ttm_p85) == (3, 2.0, 2.0, 2.7)
    assert (y.tail_count, y.tail_mean, y.tail_p85) == (3, 0.0, 0.0)
    grid = heatmap_grid([], list(wip.values()), "tail", "p85", PERIODS)
    assert grid.cells == [[None], [HeatCell(3, 0.0)]]  # X has no Tail, Y a measured zero


def test_fixture_ten_heatmap_cells_from_the_summary_and_the_wip_column(ten: Engine):
    summary = rows(ten, "SELECT * FROM report_ttm_summary WHERE dimension = 'team'")
    wip = rows(ten, WIP_SQL)
    ttm = {stat: heatmap_grid(summary, wip, "ttm", stat, PERIODS) for stat in ("p85", "mean")}
    assert ttm["p85"].teams == ["Team Alpha", "Team Beta", "Team Gamma"]
    assert ttm["p85"].columns == ["Q1 2025", "WiP"]
    # Q1: Alpha CPO-1 20 and CPO-3 37, Gamma CPO-4 38; WiP: Alpha CPO-7 22, Beta CPO-2 89
    # and CPO-5 31 (p85 31 + 0.85 * 58)
    assert ttm["p85"].cells == [
        [HeatCell(2, pytest.approx(34.45)), HeatCell(1, 22.0)],
        [None, HeatCell(2, pytest.approx(80.3))],
        [HeatCell(1, 38.0), None],
    ]
    assert ttm["mean"].cells == [
        [HeatCell(2, 28.5), HeatCell(1, 22.0)],
        [None, HeatCell(2, 60.0)],
        [HeatCell(1, 38.0), None],
    ]
    # WiP Tail: only CPO-5 (open external test, 12); DevLT: CPO-7 17, CPO-2 13 and CPO-5 15
    tail = heatmap_grid(summary, wip, "tail", "median", PERIODS)
    devlt = heatmap_grid(summary, wip, "devlt", "median", PERIODS)
    assert [row[-1] for row in tail.cells] == [None, HeatCell(1, 12.0), None]
    assert [row[-1] for row in devlt.cells] == [HeatCell(1, 17.0), HeatCell(2, 14.0), None]


# --------------------------------------------------------------------------- activity table


@pytest.mark.parametrize(("delta", "arrow"), [(3, "▲"), (-1, "▼"), (0, "=")])
def test_trend_arrow_compares_the_last_week_with_the_week_before(delta: int, arrow: str):
    assert trend_arrow(delta) == arrow


def activity_row(dimension: str, name: str, last: int, prev: int, **more: int) -> Any:
    tasks_last, tasks_prev = more.get("tasks_last", last), more.get("tasks_prev", prev)
    return SimpleNamespace(
        dimension=dimension,
        name=name,
        week_start=date(2025, 3, 24),
        changes_last_week=last,
        tasks_last_week=tasks_last,
        changes_prev_week=prev,
        tasks_prev_week=tasks_prev,
        changes_trend=last - prev,
        tasks_trend=tasks_last - tasks_prev,
        open_discovery=more.get("discovery", 0),
        open_delivery=more.get("delivery", 0),
    )


def activity_config() -> MetricsConfig:
    teams = Teams(authors={"Ann": "Red", "Bob": "Red", "Cid": "Blue"})
    return MetricsConfig.default().model_copy(update={"teams": teams})


ACTIVITY_ROWS = [
    activity_row("author", "Bob", 2, 5, tasks_last=2, tasks_prev=2),
    activity_row("team", "Red", 6, 5, tasks_last=4, tasks_prev=3, delivery=2),
    activity_row("author", "Ann", 4, 0, tasks_last=2, tasks_prev=1, delivery=2),
    activity_row("team", "Blue", 0, 0, discovery=1),
    activity_row("author", "Cid", 0, 0, discovery=1),
]


def test_activity_lines_put_each_team_before_its_authors_with_the_arrows():
    lines, omitted = activity_lines(ACTIVITY_ROWS, activity_config())
    assert omitted == 0
    assert [(line.name, line.is_team) for line in lines] == [
        ("Blue", True),
        ("Cid", False),
        ("Red", True),
        ("Ann", False),
        ("Bob", False),
    ]
    assert [(line.changes_arrow, line.tasks_arrow) for line in lines] == [
        ("=", "="),
        ("=", "="),
        ("▲", "▲"),
        ("▲", "▲"),
        ("▼", "="),
    ]
    assert lines[2].cells() == ["Red", "5 (3)", "6 (4)", "▲ +1", "▲ +1", "0", "2"]
    assert lines[4].cells() == ["    Bob", "5 (2)", "2 (2)", "▼ -3", "= 0", "0", "0"]


def test_activity_lines_leave_out_the_least_active_authors_over_the_limit():
    lines, omitted = activity_lines(ACTIVITY_ROWS, activity_config(), max_authors=2)
    assert omitted == 1
    # Cid (no changes, one open task) goes; Blue's team line stays
    assert [line.name for line in lines] == ["Blue", "Red", "Ann", "Bob"]


def test_fixture_ten_activity_lines(ten: Engine):
    # weeks 03-24..03-30 and 03-17..03-23 (see test_fixture_ten): CPO-8 (Author 3) moved on
    # 03-21 and 03-25, CPO-5 (Author 4) on 03-20; Author 2 only has CPO-7 open
    config = fixture_ten.config()
    lines, _ = activity_lines(rows(ten, "SELECT * FROM report_status_activity"), config)
    assert [
        (line.name, line.changes_prev, line.changes_last, line.changes_arrow, line.tasks_arrow)
        for line in lines
    ] == [
        ("Team Alpha", 0, 0, "=", "="),
        ("Author 2", 0, 0, "=", "="),
        ("Team Beta", 2, 1, "▼", "▼"),
        ("Author 3", 1, 1, "=", "="),
        ("Author 4", 1, 0, "▼", "▼"),
    ]


# --------------------------------------------------------------------------- PNG files

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_picture(path: Path, width: int, height: int, min_bytes: int = 10_000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > min_bytes
    pixels = image.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].var() > 0.001  # not blank


def test_product_pictures_are_written_with_their_size(ten: Engine, tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), fixture_ten.AS_OF)
    paths = render_product_pictures(ten, inputs, tmp_path)
    assert {name: path.name for (_, name), path in paths.items()} == {
        "heatmap_p85": "ttm_heatmap_p85.png",
        "heatmap_median": "ttm_heatmap_median.png",
        "heatmap_mean": "ttm_heatmap_mean.png",
        "cumulative_flow": "cumulative_flow.png",
        "aging_wip": "aging_wip.png",
    }
    # 3 teams x (Q1 2025, WiP): 8 x (1.5 + 3 x (1 + 3 x 0.5)) inches at 100 dpi
    for stat in ("p85", "median", "mean"):
        assert_picture(paths[("report_ttm_summary", f"heatmap_{stat}")], 800, 900)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())


def test_activity_picture_is_written_with_its_size(ten: Engine, tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), fixture_ten.AS_OF)
    lines, _ = activity_lines(rows(ten, "SELECT * FROM report_status_activity"), inputs.config)
    assert len(lines) == 5  # two teams, three authors
    paths = render_activity_pictures(ten, inputs, tmp_path)
    # 10 x (1.25 + 0.25 x (5 lines + header)) inches
    assert_picture(paths["status_activity"], 1000, 275)


def test_empty_reports_still_give_pictures_that_say_so(tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), fixture_ten.AS_OF)
    assert_picture(render_heatmap([], [], inputs, "mean", tmp_path / "h.png"), 800, 450, 2_000)
    assert_picture(render_activity([], inputs, tmp_path / "a.png"), 1000, 150, 2_000)


def test_a_heatmap_of_many_teams_keeps_readable_rows(tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), fixture_ten.AS_OF)
    summary = [
        summary_row(period, f"Команда {i:03d}", ttm_count=1 + i % 7, ttm_p85=float(i))
        for i in range(300)
        for period in PERIODS
    ]
    wip = [wip_row(f"Команда {i:03d}", ttm_count=1, ttm_p85=float(i)) for i in range(300)]
    path = render_heatmap(summary, wip, inputs, "p85", tmp_path / "many.png")
    # 23 teams x (Q1 2025, Q2 2025, WiP): 8 x (1.5 + 3 x (1 + 23 x 0.5)) inches, not squeezed
    assert_picture(path, 800, 3900, 100_000)


def test_a_long_team_name_leaves_the_cells_their_width(tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), fixture_ten.AS_OF)
    long = "Команда платёжных сервисов и интеграций с внешними партнёрами (бывшая «Биллинг 2.0»)"
    summary = [summary_row("Q1 2025", long, ttm_count=3, ttm_p85=40.0)]
    path = render_heatmap(summary, [], inputs, "p85", tmp_path / "long.png")
    assert_picture(path, 800, 600)
    # the label takes at most about a quarter of the width: the first panel's cells
    # (coloured, not white) start before x = 250 on the middle row of the TTM panel
    pixels = image.imread(path)[..., :3]
    row = pixels[120]
    coloured = [x for x in range(pixels.shape[1]) if row[x].max() - row[x].min() > 0.2]
    assert coloured and coloured[0] < 250


def test_activity_picture_of_hand_made_rows(tmp_path: Path):
    inputs = ReportInputs.of(activity_config(), fixture_ten.AS_OF)
    path = render_activity(ACTIVITY_ROWS, inputs, tmp_path / "activity.png")
    assert_picture(path, 1000, 275)  # 1.25 + 0.25 x (5 lines + header) inches


# --------------------------------------------------------------------------- kept pictures


def test_a_picture_is_drawn_again_only_when_its_inputs_change(tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), fixture_ten.AS_OF)
    summary = [summary_row("Q1 2025", "Alpha", ttm_count=3, ttm_p85=40.0)]
    path = tmp_path / "h.png"
    render_heatmap(summary, [], inputs, "p85", path)
    first, key = path.stat().st_ino, stored_key(path)
    assert key is not None and len(key) == 64
    # same rows, same day: the file is kept (os.replace would give a new inode)
    later = ReportInputs.of(inputs.config, fixture_ten.AS_OF + timedelta(minutes=5))
    render_heatmap(summary, [], later, "p85", path)
    assert (path.stat().st_ino, stored_key(path)) == (first, key)
    # one value changed: drawn again, with another key
    changed = [summary_row("Q1 2025", "Alpha", ttm_count=3, ttm_p85=41.0)]
    render_heatmap(changed, [], later, "p85", path)
    assert path.stat().st_ino != first and stored_key(path) not in (None, key)
    # another statistic, another day or another configuration: other keys
    keys = {stored_key(path)}
    for stat, when, config in (
        ("mean", later, inputs.config),
        ("p85", ReportInputs.of(inputs.config, fixture_ten.AS_OF + timedelta(days=1)), None),
        ("p85", later, activity_config()),
    ):
        target = tmp_path / f"{len(keys)}.png"
        render_heatmap(
            changed, [], ReportInputs.of(config or when.config, when.as_of), stat, target
        )
        keys.add(stored_key(target))
    assert len(keys) == 4


def test_rendering_the_same_tables_again_keeps_every_picture(ten: Engine, tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), fixture_ten.AS_OF)
    paths = [*render_product_pictures(ten, inputs, tmp_path).values()]
    paths.append(render_activity_pictures(ten, inputs, tmp_path)["status_activity"])
    inodes = [p.stat().st_ino for p in paths]
    assert all(stored_key(p) for p in paths)
    again = [*render_product_pictures(ten, inputs, tmp_path).values()]
    again.append(render_activity_pictures(ten, inputs, tmp_path)["status_activity"])
    assert again == paths and [p.stat().st_ino for p in again] == inodes
    # a file that is not the picture of these inputs is replaced
    paths[0].write_bytes(b"not a png")
    render_product_pictures(ten, inputs, tmp_path)
    assert paths[0].read_bytes()[:8] == PNG_SIGNATURE and stored_key(paths[0])


def test_no_key_is_read_from_a_png_without_one(tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), fixture_ten.AS_OF)
    path = render_activity(ACTIVITY_ROWS, inputs, tmp_path / "a.png")
    data = path.read_bytes()
    assert stored_key(path) is not None
    (tmp_path / "plain.png").write_bytes(
        data.replace(b"radiator-input-sha256", b"radiator-other-sha256")
    )
    assert stored_key(tmp_path / "plain.png") is None
    assert stored_key(tmp_path / "missing.png") is None


# --------------------------------------------------------------------------- trend chart


def trend_row(team: str, as_of: datetime, wip: int, throughput: int = 0, **more: Any) -> Any:
    values = {"period": "Q1 2025", "ttm_p85": 40.0, "devlt_p85": 12.0} | more
    return SimpleNamespace(team=team, as_of=as_of, wip=wip, throughput=throughput, **values)


def test_a_short_series_is_centred_on_two_weeks_of_time_axis():
    lone = datetime(2025, 3, 17, 9, 30, tzinfo=UTC)
    assert time_axis(lone, lone) == (lone - timedelta(days=7), lone + timedelta(days=7))
    assert time_axis(lone, lone + timedelta(days=4)) == (
        lone - timedelta(days=5),
        lone + timedelta(days=9),
    )
    far = lone + timedelta(days=70)
    assert time_axis(lone, far) == (lone, far)


def test_the_trend_chart_draws_the_teams_with_the_most_tasks_up_to_its_limit():
    monday = datetime(2025, 3, 17, tzinfo=UTC)
    rows = [
        trend_row("Alpha", monday, 3, 1),
        trend_row("Alpha", monday + timedelta(weeks=1), 2, 2),
        trend_row("Beta", monday, 9),
        trend_row("Gamma", monday, 4),
        trend_row("Delta", monday, 0, 4),
    ]
    # Beta 9, Alpha 8, Delta 4, Gamma 4 (ties by name)
    assert trend_teams(rows, limit=3) == ({"Beta", "Alpha", "Delta"}, 1)
    assert trend_teams(rows) == ({"Alpha", "Beta", "Delta", "Gamma"}, 0)
    assert MAX_TREND_TEAMS == 20


def test_a_trend_chart_of_one_snapshot_long_names_and_no_numbers_is_drawn(tmp_path: Path):
    inputs = ReportInputs.of(fixture_ten.config(), fixture_ten.AS_OF)
    long = "Команда платёжных сервисов и интеграций с внешними партнёрами (бывшая «Биллинг 2.0»)"
    lone = datetime(2025, 3, 17, 9, 30, tzinfo=UTC)
    rows = [
        trend_row(long, lone, 3),
        trend_row("Team B", lone, 4, devlt_p85=float("nan"), ttm_p85=None),
    ]
    path = render_trend_chart(rows, inputs, tmp_path / "trends.png")
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 20_000
    height, width = image.imread(path).shape[:2]
    # cropped to the drawing: 12 x 10 inches and the legend beside, whose labels are
    # at most 28 characters wide (a long name would widen the picture)
    assert 1150 <= width <= 1250 and 950 <= height <= 1050
