"""Trends over the kept snapshots: the week-over-week / month-to-month comparison and its chart.

`team_trend(conn, grain)` takes the newest snapshot of each week (or month) of
the snapshot's last instant (a snapshot at Monday 00:00 closes the week before)
and puts it next to the team's snapshot of the bucket before (`prev_*`), as
radiator's `compare_ttm_month_to_month.py` put two details exports side by side:

* `ttm_p85`, `devlt_p85`: p85 of the team's tasks finished in the snapshot's
  current period (report_summary_history, `current_period`);
* `wip`: tasks in discovery or delivery at as_of, `throughput`: completed in the
  snapshot's week (report_flow_history);
* `in_development`, `in_development_devlt_median`: unfinished tasks that went
  through development and their DevLT to as_of, what the script compared.

`TREND_SQL` is the query (README, "History and trends"). `render_trends` draws
TTM p85, DevLT p85 and WIP per team over the weekly series (`trends.png`), in
the style of `pictures.py`, written atomically the same way and kept when its rows
did not change. A p85 line
breaks where the current period changes: a new period starts with few tasks.
The chart stays readable: at most `MAX_TREND_TEAMS` lines (the teams with the
most tasks over the series: WIP plus throughput; the title says how many were
left out), long team names wrapped and shortened (`team_label`), and a series
shorter than `MIN_SPAN` (a lone snapshot) centred on an axis of that span
instead of matplotlib's years around a single date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from matplotlib import colormaps, cycler
from matplotlib.figure import Figure
from sqlalchemy.engine import Connection, Engine

from radiator_assets.reports.common import ReportInputs, midnight
from radiator_assets.reports.pictures import (
    empty_figure,
    input_key,
    save_png,
    team_label,
    unchanged,
)

TRENDS = "trends.png"
#: the most teams drawn (one line each in every panel, one legend entry each)
MAX_TREND_TEAMS = 20
#: the shortest time axis: a shorter series is centred on one this long
MIN_SPAN = timedelta(days=14)
#: a style per drawn team: ten colours solid, then the same ten dashed
TEAM_STYLES = cycler(linestyle=["-", "--"]) * cycler(color=colormaps["tab10"].colors)
GRAINS = ("week", "month")
#: (column, panel title, the threshold's metric or None)
PANELS = (
    ("ttm_p85", "TTM p85, tasks finished in the current period (days)", "ttm"),
    ("devlt_p85", "DevLT p85, tasks finished in the current period (days)", "devlt"),
    ("wip", "WIP: tasks in discovery or delivery", None),
)

TREND_SQL = """
WITH snapshots AS (
    SELECT DISTINCT ON (bucket) bucket, as_of
    FROM (
        SELECT DISTINCT as_of,
               date_trunc(:grain, (as_of - interval '1 microsecond') AT TIME ZONE 'UTC')::date
                   AS bucket
        FROM report_flow_history
    ) s
    ORDER BY bucket, as_of DESC
)
SELECT b.bucket, b.as_of, f.team, s.period,
       s.ttm_p85, s.devlt_p85, f.wip, f.throughput,
       f.in_development, f.in_development_devlt_median,
       lag(b.as_of) OVER team AS prev_as_of,
       lag(s.ttm_p85) OVER team AS prev_ttm_p85,
       lag(s.devlt_p85) OVER team AS prev_devlt_p85,
       lag(f.wip) OVER team AS prev_wip,
       lag(f.throughput) OVER team AS prev_throughput,
       lag(f.in_development) OVER team AS prev_in_development,
       lag(f.in_development_devlt_median) OVER team AS prev_in_development_devlt_median
FROM snapshots b
JOIN report_flow_history f ON f.as_of = b.as_of
LEFT JOIN report_summary_history s
    ON s.as_of = f.as_of AND s.dimension = 'team' AND s.name = f.team AND s.current_period
WINDOW team AS (PARTITION BY f.team ORDER BY b.bucket)
ORDER BY f.team, b.bucket
"""


def team_trend(conn: Connection, grain: str = "week") -> list[Any]:
    """Per team and week (or month): the newest snapshot and the one before (`prev_*`)."""
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}, not {grain!r}")
    return list(conn.execute(sa.text(TREND_SQL), {"grain": grain}))


def series_line(points: Sequence[Any], column: str, per_period: bool) -> tuple[list, list]:
    """x (as_of) and y of one team's line; NaN leaves a gap where a value is missing and,
    `per_period`, where the current period changes (p85s of two periods are not one line)."""
    xs: list[Any] = []
    ys: list[float] = []
    for before, point in zip([None, *points[:-1]], points, strict=True):
        if per_period and before is not None and before.period != point.period:
            xs.append(point.as_of)
            ys.append(float("nan"))
        value = getattr(point, column)
        xs.append(point.as_of)
        ys.append(float("nan") if value is None else float(value))
    return xs, ys


def period_starts(rows: Sequence[Any], inputs: ReportInputs) -> list[tuple[datetime, str]]:
    """The configured periods starting within the series, as (midnight UTC, name)."""
    first, last = min(r.as_of for r in rows), max(r.as_of for r in rows)
    starts = [(midnight(p.start), p.name) for p in inputs.config.periods]
    return [(start, name) for start, name in starts if first < start <= last]


def trend_teams(rows: Sequence[Any], limit: int = MAX_TREND_TEAMS) -> tuple[set[str], int]:
    """The teams the chart draws and how many it leaves out: at most `limit`, those with
    the most tasks over the series (WIP plus throughput of every snapshot), ties by name."""
    tasks: dict[str, int] = defaultdict(int)
    for row in rows:
        tasks[row.team] += int(row.wip or 0) + int(row.throughput or 0)
    ranked = sorted(tasks, key=lambda team: (-tasks[team], team))
    return set(ranked[:limit]), max(0, len(ranked) - limit)


def time_axis(first: datetime, last: datetime) -> tuple[datetime, datetime]:
    """The x limits: the series itself, or MIN_SPAN centred on a shorter one."""
    if last - first >= MIN_SPAN:
        return first, last
    pad = (MIN_SPAN - (last - first)) / 2
    return first - pad, last + pad


def render_trend_chart(rows: Sequence[Any], inputs: ReportInputs, path: Path) -> Path:
    """`rows`: `team_trend` rows (attribute access), one line per team in each panel;
    dotted verticals mark where a period starts. 12 x 10 inches, the legend inside them
    (not cropped: one layout pass less); not drawn again when `unchanged` (the rows hold
    every date the chart shows)."""
    key = input_key(path.name, inputs, "", rows)
    if unchanged(path, key):
        return path
    fig = Figure(figsize=(12, 10), layout="constrained")
    if not rows:
        empty_figure(fig, "Trends per team", "no snapshots yet")
        return save_png(fig, path, key=key)
    shown, left_out = trend_teams(rows)
    series: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if row.team in shown:
            series[row.team].append(row)
    axes = [a[0] for a in fig.subplots(len(PANELS), 1, sharex=True, squeeze=False)]
    thresholds = inputs.config.thresholds
    boundaries = period_starts(rows, inputs)
    for ax, (column, title, metric) in zip(axes, PANELS, strict=True):
        ax.set_prop_cycle(TEAM_STYLES)
        for team, points in sorted(series.items()):
            xs, ys = series_line(points, column, per_period=metric is not None)
            ax.plot(xs, ys, marker="o", markersize=3, label=team_label(team))
        limit = thresholds.for_metric(metric) if metric else None
        if limit is not None:
            ax.axhline(
                limit, color="#e53935", linestyle="--", linewidth=1, label=f"threshold {limit}"
            )
        for start, _ in boundaries:
            ax.axvline(start, color="#757575", linestyle=":", linewidth=1)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("days" if metric else "tasks")
        ax.grid(alpha=0.3)
    for start, name in boundaries:
        axes[0].annotate(
            name,
            (start, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
            color="#616161",
        )
    # beside the panels, not in one: a long legend would stretch that panel's row
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    for tick in axes[-1].get_xticklabels():
        tick.set_rotation(30)
        tick.set_horizontalalignment("right")
    first, last = min(row.as_of for row in rows), max(row.as_of for row in rows)
    axes[-1].set_xlim(*time_axis(first, last))
    title = f"Trends per team: the newest snapshot of each week, up to {last:%Y-%m-%d} UTC"
    if left_out:
        title += f"\nthe {len(series)} teams with the most tasks: {left_out} more left out"
    fig.suptitle(title)
    return save_png(fig, path, key=key)


def render_trends(engine: Engine, inputs: ReportInputs, directory: Path) -> Path:
    """Render `trends.png` under `directory` from the committed snapshots."""
    with engine.connect() as conn:
        rows = team_trend(conn, "week")
    return render_trend_chart(rows, inputs, Path(directory) / TRENDS)
