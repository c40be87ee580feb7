"""PNG pictures of the reports, drawn with matplotlib's Agg renderer (no display, no pyplot).

* `ttm_heatmap_p85.png`, `ttm_heatmap_median.png`, `ttm_heatmap_mean.png`: one
  picture per statistic (like the predecessor's one file per aggregation, so a
  cell keeps room for its value and task count), each with a TTM, a Tail and a
  DevLT panel of team x period, plus a **WiP** column. Period cells come from
  report_ttm_summary (finished tasks); the WiP column is the predecessor's (its
  details rows with an empty quarter and "Разработка" = 1): report_ttm_details
  rows that are unfinished and went through development, TTM / Tail / DevLT
  measured to as_of, aggregated in SQL (`WIP_SQL`: `percentile_cont` is the
  summary's linear interpolation). Unlike the predecessor the period cells are
  not limited to tasks that went through development: they are the summary's,
  the numbers every other report shows. Each panel has a colour bar from 0 to
  twice the metric's threshold (the threshold marked); cells over the threshold
  are outlined in red and marked "!"; a cell without data is hatched grey, a
  measured 0 is coloured like any value (the legend says so), and so is a value
  that is no number (NaN); at most `MAX_HEATMAP_TEAMS` teams, those with the most
  tasks, so that rows stay readable within `MAX_FIGURE_INCHES` (the title says how
  many were left out); team names longer than a label wraps to two lines and ends
  with "…" (`team_label`);
* `cumulative_flow.png`: tasks per block at each week's end, stacked
  (report_flow_weekly, all teams);
* `aging_wip.png`: open tasks by current status and age in it, red when older
  than the team's p85 for that status (report_aging_wip);
* `status_activity.png`: report_status_activity as a table, each team followed
  by its authors: status changes (distinct tasks) in the week before and in the
  last full week, the trend of each as an arrow (▲ more, ▼ fewer, = the same;
  what the predecessor's TODO asked for), open tasks in discovery and delivery.

Files are written next to each other under `settings.reports_dir` and replaced
atomically (write to a temporary name, then rename). No picture is cropped to its
drawing: the heatmaps and the table have a figure size computed from their rows and
columns, the others a fixed one, so every pixel size is known in advance.

Cost (the pictures are drawn after every report build): one `imshow` per heatmap
panel, the heatmaps' and the table's axes placed in inches (no layout engine, so
one drawing pass instead of a layout pass and a drawing pass), cell texts black or
white by the cell's luminance instead of a white halo (a halo draws each text as a
path). **A picture is not drawn again when its inputs did not change**: each PNG
carries, in a text chunk, the sha256 of everything it is drawn from (`input_key`:
the rows of its queries, read in a fixed order, the configuration, the as_of as the
picture shows it, the drawing code's version); a render whose key equals the
file's keeps the file (`unchanged`). So the heatmaps show as_of to the day, like the
other pictures: their WiP values are whole days.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import struct
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import matplotlib
import sqlalchemy as sa
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch, Rectangle
from sqlalchemy.engine import Engine

from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.common import ReportInputs

CFD = "cumulative_flow.png"
AGING = "aging_wip.png"
ACTIVITY = "status_activity.png"
HEATMAP_METRICS = (("ttm", "TTM"), ("tail", "Tail"), ("devlt", "DevLT"))
#: statistic (report_ttm_summary column suffix) -> its label
HEATMAP_STATS = {"p85": "p85", "median": "median", "mean": "mean"}
HEATMAP_FILES = {stat: f"ttm_heatmap_{stat}.png" for stat in HEATMAP_STATS}
WIP_COLUMN = "WiP"
WIP_SQL = (
    "SELECT team AS name, "
    + ", ".join(
        f"count({m}) AS {m}_count, avg({m})::float8 AS {m}_mean, "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {m}) AS {m}_median, "
        f"percentile_cont(0.85) WITHIN GROUP (ORDER BY {m}) AS {m}_p85"
        for m, _ in HEATMAP_METRICS
    )
    + " FROM report_ttm_details WHERE NOT finished AND went_through_development GROUP BY team"
)
HEAT_CMAP = colormaps["RdYlGn_r"].with_extremes(bad="#eeeeee")
NO_DATA_STYLE: dict[str, Any] = {
    "facecolor": "#eeeeee",
    "edgecolor": "#9e9e9e",
    "hatch": "///",
    "linewidth": 0,
}
CFD_ORDER = ("done", "cancelled", "delivery", "paused", "discovery", "backlog")
CFD_COLORS = {
    "done": "#4caf50",
    "cancelled": "#9e9e9e",
    "delivery": "#2196f3",
    "paused": "#ffb300",
    "discovery": "#ab47bc",
    "backlog": "#cfd8dc",
}
MAX_SCATTER_POINTS = 20_000
#: the largest figure side, inches (100 px each)
MAX_FIGURE_INCHES = 40.0
#: a heatmap row (one team in one panel), inches: room for its two lines of text
HEAT_ROW_INCHES = 0.5
#: the most teams whose rows fit at full height within MAX_FIGURE_INCHES (see heatmap_size)
MAX_HEATMAP_TEAMS = int(((MAX_FIGURE_INCHES - 1.5) / len(HEATMAP_METRICS) - 1.0) / HEAT_ROW_INCHES)
#: a team label's line length (characters) and lines, on the heatmap and the trend chart
LABEL_WIDTH = 28
LABEL_LINES = 2


#: PNG text chunk that holds the key of a picture's inputs (`input_key`)
INPUT_KEY_CHUNK = "radiator-input-sha256"
#: part of every input key: bump it when the drawing code changes, so kept pictures are redrawn
RENDER_VERSION = "2"


def input_key(name: str, inputs: ReportInputs, shown_as_of: str, *row_sets: Iterable[Any]) -> str:
    """sha256 of everything a picture is drawn from: its name, the drawing code's version
    (RENDER_VERSION, matplotlib's), the whole configuration, the as_of as the picture shows
    it and the rows of its queries in their (ORDER BY) order (`repr` of each row: a
    SQLAlchemy row is its tuple). Equal keys, equal pictures: see `unchanged`."""
    digest = hashlib.sha256()
    for part in (RENDER_VERSION, matplotlib.__version__, name, shown_as_of):
        digest.update(part.encode() + b"\0")
    digest.update(inputs.config.model_dump_json().encode() + b"\0")
    for rows in row_sets:
        for row in rows:
            digest.update(repr(row).encode() + b"\n")
        digest.update(b"\0")
    return digest.hexdigest()


def stored_key(path: Path) -> str | None:
    """The input key a PNG was written with (its INPUT_KEY_CHUNK tEXt chunk, which comes
    before the image data), None without one or without a readable PNG."""
    try:
        with path.open("rb") as png:
            if png.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while header := png.read(8):
                length, kind = struct.unpack(">I4s", header)
                if kind in (b"IDAT", b"IEND"):
                    return None
                data = png.read(length + 4)[:length]  # the chunk and its CRC
                keyword, _, text = data.partition(b"\0")
                if kind == b"tEXt" and keyword == INPUT_KEY_CHUNK.encode():
                    return text.decode("latin-1")
    except (OSError, struct.error):
        return None
    return None


def unchanged(path: Path, key: str) -> bool:
    """The rule for not drawing a picture again: its file exists and was written from
    inputs with the same key. The file is then kept as it is (not rewritten)."""
    return stored_key(path) == key


def save_png(fig: Figure, path: Path, *, key: str | None = None, tight: bool = False) -> Path:
    """Write the PNG atomically at 100 dpi, with the input `key` in a text chunk; `tight`
    crops it to the drawing (an unknown pixel size, and one more layout pass)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    metadata = {INPUT_KEY_CHUNK: key} if key else None
    fig.savefig(
        tmp, format="png", dpi=100, bbox_inches="tight" if tight else None, metadata=metadata
    )
    os.replace(tmp, path)
    return path


def team_label(name: str) -> str:
    """A team's name as an axis or legend label: wrapped to LABEL_LINES lines of at most
    LABEL_WIDTH characters, what does not fit replaced by "…" (long names would
    otherwise squeeze the drawing into a corner)."""
    lines = textwrap.wrap(name, LABEL_WIDTH, max_lines=LABEL_LINES, placeholder=" …")
    return "\n".join(lines) if lines else name


def empty_figure(fig: Figure, title: str, message: str) -> None:
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)


@dataclass(frozen=True)
class HeatCell:
    """One heatmap cell: the statistic of a metric over `count` tasks, in days."""

    count: int
    value: float


@dataclass(frozen=True)
class HeatGrid:
    """One panel of a heatmap: `cells[team][column]`; the columns are the periods
    (configuration order) and then WIP_COLUMN; None: no task with a value (no data)."""

    teams: list[str]
    columns: list[str]
    cells: list[list[HeatCell | None]]


def heatmap_grid(
    summary: Sequence[Any], wip: Sequence[Any], metric: str, stat: str, periods: Sequence[str]
) -> HeatGrid:
    """The cells of `metric`'s `stat` from report_ttm_summary rows of dimension 'team'
    (`summary`) and the WIP_SQL rows (`wip`); both name the team `name` and have
    `<metric>_count` and `<metric>_<stat>` columns. A row without a value (count 0)
    is no data, like a missing row: only a value of 0 is a zero."""
    order = {name: i for i, name in enumerate(periods)}
    shown = sorted({r.period for r in summary}, key=lambda p: (order.get(p, len(order)), p))
    teams = sorted({r.name for r in summary} | {r.name for r in wip})
    by_period = {(r.name, r.period): r for r in summary}
    by_team = {r.name: r for r in wip}
    cells = [
        [_heat_cell(by_period.get((team, p)), metric, stat) for p in shown]
        + [_heat_cell(by_team.get(team), metric, stat)]
        for team in teams
    ]
    return HeatGrid(teams, [*shown, WIP_COLUMN], cells)


def _heat_cell(row: Any, metric: str, stat: str) -> HeatCell | None:
    """The cell of `row`, None (no data) without tasks or without a number (None, NaN)."""
    if row is None:
        return None
    count, value = getattr(row, f"{metric}_count"), getattr(row, f"{metric}_{stat}")
    if not count or value is None or math.isnan(float(value)):
        return None
    return HeatCell(int(count), float(value))


def heatmap_teams(
    summary: Sequence[Any], wip: Sequence[Any], limit: int = MAX_HEATMAP_TEAMS
) -> tuple[set[str], int]:
    """The teams a heatmap shows and how many it leaves out: at most `limit`, those with
    the most tasks (`ttm_count`, every listed task has a TTM: summed over the periods
    and the WiP), ties by name."""
    tasks: dict[str, int] = defaultdict(int)
    for row in (*summary, *wip):
        tasks[row.name] += int(row.ttm_count or 0)
    ranked = sorted(tasks, key=lambda team: (-tasks[team], team))
    return set(ranked[:limit]), max(0, len(ranked) - limit)


def heatmap_size(teams: int, columns: int) -> tuple[float, float]:
    """Figure inches (100 px each): quarter inches, so the pixel size is exact; at most
    MAX_FIGURE_INCHES a side (`render_heatmap` shows at most MAX_HEATMAP_TEAMS teams,
    which fit)."""
    width = max(8.0, 3.5 + 1.0 * columns)
    height = 1.5 + len(HEATMAP_METRICS) * (1.0 + HEAT_ROW_INCHES * teams)
    return min(width, MAX_FIGURE_INCHES), min(height, MAX_FIGURE_INCHES)


#: the heatmap's fixed layout, inches: suptitle band, legend band, above a panel (its
#: title), below it (the slanted period labels), right of it (colour bar and its labels)
HEAT_TOP, HEAT_BOTTOM, HEAT_ABOVE, HEAT_BELOW, HEAT_RIGHT = 0.75, 0.4, 0.3, 0.55, 0.9
HEAT_FONT = FontProperties(size=8)


def render_heatmap(
    summary: Sequence[Any], wip: Sequence[Any], inputs: ReportInputs, stat: str, path: Path
) -> Path:
    """One picture per statistic: a TTM, a Tail and a DevLT panel, team x (periods, WiP).

    `summary`: report_ttm_summary rows of dimension 'team'; `wip`: WIP_SQL rows. Not drawn
    again when `unchanged` (same rows, configuration and as_of day)."""
    key = input_key(f"{path.name}:{stat}", inputs, f"{inputs.as_of:%Y-%m-%d}", summary, wip)
    if unchanged(path, key):
        return path
    periods = [p.name for p in inputs.config.periods]
    shown, left_out = heatmap_teams(summary, wip)
    summary = [row for row in summary if row.name in shown]
    wip = [row for row in wip if row.name in shown]
    grids = [
        (metric, label, heatmap_grid(summary, wip, metric, stat, periods))
        for metric, label in HEATMAP_METRICS
    ]
    teams, columns = grids[0][2].teams, grids[0][2].columns
    title = f"{HEATMAP_STATS[stat]} of TTM / Tail / DevLT by team and period"
    if not teams:
        fig = Figure(figsize=heatmap_size(0, len(columns)), layout="constrained")
        empty_figure(fig, title, "no finished tasks in any period and no work in progress")
        return save_png(fig, path, key=key)
    fig = Figure(figsize=heatmap_size(len(teams), len(columns)))
    thresholds = inputs.config.thresholds
    for ax, (metric, label, grid) in zip(_heat_axes(fig, teams), grids, strict=True):
        limit = thresholds.for_metric(metric) or 1
        _draw_heat_panel(fig, ax, grid, f"{label} {HEATMAP_STATS[stat]}", limit)
    lines = [f"{title}, as of {inputs.as_of:%Y-%m-%d} UTC"]
    if left_out:
        lines.append(
            f"the {len(teams)} teams with the most tasks: {left_out} more teams left out "
            "(report_ttm_summary has them all)"
        )
    lines.append(
        "cell: days (n = tasks); WiP: unfinished tasks that went through development, "
        "measured to as_of"
    )
    fig.suptitle("\n".join(lines), fontsize=10, y=1 - 0.08 / fig.get_figheight(), va="top")
    fig.legend(
        handles=_heat_legend(), loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=3, fontsize=8
    )
    return save_png(fig, path, key=key)


def _heat_axes(fig: Figure, teams: Sequence[str]) -> list[Any]:
    """The three panels' axes placed in inches (no layout engine: one drawing pass, and the
    pixel size `heatmap_size` says): the left margin fits the widest team label, measured
    with the renderer's font metrics."""
    width, height = fig.get_size_inches()
    renderer = FigureCanvasAgg(fig).get_renderer()
    label_px = max(
        renderer.get_text_width_height_descent(line, HEAT_FONT, ismath=False)[0]
        for team in teams
        for line in team_label(team).splitlines()
    )
    left = label_px / fig.dpi + 0.2
    panel = (height - HEAT_TOP - HEAT_BOTTOM) / len(HEATMAP_METRICS)
    rows = panel - HEAT_ABOVE - HEAT_BELOW
    axes = []
    for n in range(len(HEATMAP_METRICS)):
        bottom = height - HEAT_TOP - (n + 1) * panel + HEAT_BELOW
        box = (left / width, bottom / height, (width - left - HEAT_RIGHT) / width, rows / height)
        axes.append(fig.add_axes(box))
    return axes


def _draw_heat_panel(fig: Figure, ax: Any, grid: HeatGrid, title: str, limit: int) -> None:
    """Cells coloured 0..2x threshold (the colour bar marks the threshold); no data
    hatched grey; over the threshold outlined in red and marked "!". A cell's text is
    black on a light colour and white on a dark one (cheaper than a halo around it)."""
    values = [[float("nan") if c is None else c.value for c in row] for row in grid.cells]
    norm = Normalize(vmin=0, vmax=2 * limit)
    image = ax.imshow(values, cmap=HEAT_CMAP, norm=norm, aspect="auto", interpolation="nearest")
    box = ax.get_position()
    cax = fig.add_axes(
        (box.x1 + 0.1 / fig.get_figwidth(), box.y0, 0.15 / fig.get_figwidth(), box.height)
    )
    bar = fig.colorbar(image, cax=cax, extend="max")
    bar.set_label("days", fontsize=8)
    bar.ax.axhline(limit, color="black", linewidth=1.5)
    bar.ax.tick_params(labelsize=7)
    ax.set_title(f"{title} (threshold {limit}, black line on the colour bar)", fontsize=9)
    ax.set_xticks(range(len(grid.columns)), grid.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(grid.teams)), [team_label(t) for t in grid.teams], fontsize=8)
    ax.axvline(len(grid.columns) - 1.5, color="black", linewidth=2)
    for y, row in enumerate(grid.cells):
        for x, cell in enumerate(row):
            if cell is None:
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, **NO_DATA_STYLE))
                continue
            over = cell.value > limit
            ax.text(
                x,
                y,
                f"{_days(cell.value)}{'!' if over else ''}\nn={cell.count}",
                ha="center",
                va="center",
                fontsize=8,
                fontweight="bold" if over else "normal",
                color=_text_colour(HEAT_CMAP(norm(cell.value))),
            )
            if over:
                # inset, so that no side hides under the neighbour or the frame
                ax.add_patch(
                    Rectangle(
                        (x - 0.46, y - 0.46), 0.92, 0.92, fill=False, edgecolor="red", linewidth=2
                    )
                )


def _text_colour(rgba: tuple[float, ...]) -> str:
    """Black on a light cell, white on a dark one (relative luminance, ITU-R BT.601)."""
    red, green, blue = rgba[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def _days(value: float) -> str:
    """Whole days as they are; a fraction (a median or mean of two, a p85) to one
    decimal below 100 days, where it can tell two cells apart."""
    return f"{value:.0f}" if value.is_integer() or value >= 100 else f"{value:.1f}"


def _heat_legend() -> list[Patch]:
    return [
        Patch(label="no data: no task with a value", **NO_DATA_STYLE),
        Patch(facecolor=HEAT_CMAP(0.0), label="0: a measured zero (coloured, with its n)"),
        Patch(fill=False, edgecolor="red", linewidth=2, label="over the threshold (value!)"),
    ]


def render_cfd(rows: Sequence[Any], inputs: ReportInputs, path: Path) -> Path:
    """`rows`: report_flow_weekly rows (summed over teams here); not drawn again when
    `unchanged`."""
    key = input_key(path.name, inputs, f"{inputs.as_of:%Y-%m-%d}", rows)
    if unchanged(path, key):
        return path
    fig = Figure(figsize=(12, 6), layout="constrained")
    if not rows:
        empty_figure(fig, "Cumulative flow", "no product tasks")
        return save_png(fig, path, key=key)
    totals: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CFD_ORDER, 0))
    for r in rows:
        for block in CFD_ORDER:
            totals[r.week_start][block] += getattr(r, block)
    weeks = sorted(totals)
    ax = fig.subplots()
    ax.stackplot(
        weeks,
        [[totals[w][b] for w in weeks] for b in CFD_ORDER],
        labels=list(CFD_ORDER),
        colors=[CFD_COLORS[b] for b in CFD_ORDER],
    )
    ax.set_title(f"Cumulative flow, product queue (as of {inputs.as_of:%Y-%m-%d} UTC)")
    ax.set_xlabel("week (tasks per status block at the week's end)")
    ax.set_ylabel("tasks")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], loc="upper left")
    ax.margins(x=0)
    for tick in ax.get_xticklabels():
        tick.set_rotation(30)
        tick.set_horizontalalignment("right")
    return save_png(fig, path, key=key)


def render_aging(rows: Sequence[Any], inputs: ReportInputs, path: Path) -> Path:
    """`rows`: report_aging_wip rows (current_status, age_in_status, team_status_p85,
    over_p85) in a fixed order (the sample depends on it); not drawn again when `unchanged`."""
    key = input_key(path.name, inputs, f"{inputs.as_of:%Y-%m-%d}", rows)
    if unchanged(path, key):
        return path
    fig = Figure(figsize=(12, 6), layout="constrained")
    if not rows:
        empty_figure(fig, "Aging work in progress", "no open tasks")
        return save_png(fig, path, key=key)
    config = inputs.config
    workflow = [s.name for s in config.statuses]
    present = {r.current_status for r in rows}
    ordered = [s for s in workflow if s in present] + sorted(present - set(workflow))
    column = {s: i for i, s in enumerate(ordered)}
    if len(rows) > MAX_SCATTER_POINTS:  # a deterministic sample keeps the file readable
        rows = random.Random(0).sample(list(rows), MAX_SCATTER_POINTS)
    jitter = random.Random(1)
    ax = fig.subplots()
    groups = (
        ("older than the team's p85", "#e53935", lambda r: r.over_p85 is True),
        ("within the team's p85", "#1e88e5", lambda r: r.over_p85 is False),
        ("no p85 yet", "#9e9e9e", lambda r: r.over_p85 is None),
    )
    for label, color, keep in groups:
        chosen = [r for r in rows if keep(r)]
        if chosen:
            ax.scatter(
                [column[r.current_status] + jitter.uniform(-0.3, 0.3) for r in chosen],
                [r.age_in_status for r in chosen],
                s=12,
                alpha=0.6,
                color=color,
                label=f"{label} ({len(chosen)})",
            )
    p85s: dict[str, set[float]] = defaultdict(set)
    for r in rows:
        if r.team_status_p85 is not None:
            p85s[r.current_status].add(float(r.team_status_p85))
    for status, values in p85s.items():
        for value in values:
            x = column[status]
            ax.plot([x - 0.4, x + 0.4], [value, value], color="#424242", linewidth=0.8)
    ax.set_xticks(range(len(ordered)), ordered, rotation=30, ha="right", fontsize=9)
    ax.set_ylabel("days in the current status")
    ax.set_title(
        f"Aging WIP (as of {inputs.as_of:%Y-%m-%d} UTC); dashes: the teams' p85 for the status"
    )
    ax.legend(loc="upper right")
    return save_png(fig, path, key=key)


# --------------------------------------------------------------------------- activity

MAX_ACTIVITY_AUTHORS = 120
ACTIVITY_HEADER = (
    "team / author",
    "week before",
    "last week",
    "\u0394 changes",
    "\u0394 tasks",
    "open discovery",
    "open delivery",
)
TREND_COLORS = {"\u25b2": "#2e7d32", "\u25bc": "#c62828", "=": "#616161"}
TEAM_ROW_COLOR = "#e8f5e9"
#: the activity picture's margins, inches: above the table (the title), below, each side;
#: top + bottom is activity_size's fixed 1.25, so a table row is a quarter inch
ACTIVITY_TOP, ACTIVITY_BOTTOM, ACTIVITY_SIDE = 0.85, 0.4, 0.15
HEADER_COLOR = "#4caf50"


def trend_arrow(delta: int) -> str:
    """▲ when the last week had more than the week before, ▼ fewer, = the same."""
    return "\u25b2" if delta > 0 else "\u25bc" if delta < 0 else "="


def _trend_text(delta: int) -> str:
    return f"{trend_arrow(delta)} {delta:+d}" if delta else "= 0"


@dataclass(frozen=True)
class ActivityLine:
    """One row of the activity table: a report_status_activity row, its arrows."""

    name: str
    is_team: bool
    changes_prev: int
    tasks_prev: int
    changes_last: int
    tasks_last: int
    changes_trend: int
    tasks_trend: int
    open_discovery: int
    open_delivery: int

    @property
    def changes_arrow(self) -> str:
        return trend_arrow(self.changes_trend)

    @property
    def tasks_arrow(self) -> str:
        return trend_arrow(self.tasks_trend)

    def cells(self) -> list[str]:
        """The table's texts; authors indented under their team."""
        return [
            self.name if self.is_team else f"    {self.name}",
            f"{self.changes_prev} ({self.tasks_prev})",
            f"{self.changes_last} ({self.tasks_last})",
            _trend_text(self.changes_trend),
            _trend_text(self.tasks_trend),
            str(self.open_discovery),
            str(self.open_delivery),
        ]


def activity_lines(
    rows: Sequence[Any], config: MetricsConfig, max_authors: int = MAX_ACTIVITY_AUTHORS
) -> tuple[list[ActivityLine], int]:
    """The lines of the table from report_status_activity rows, and how many authors
    were left out: every team (by name), each followed by its authors (configuration
    map, by name). Over `max_authors` authors, the least active ones (changes in the
    two weeks, then open tasks) are left out, so the picture stays readable."""
    teams = [_activity_line(r) for r in rows if r.dimension == "team"]
    authors = [_activity_line(r) for r in rows if r.dimension == "author"]
    omitted = max(0, len(authors) - max_authors)
    if omitted:
        authors.sort(key=_activity_weight, reverse=True)
        authors = authors[:max_authors]
    under: dict[str, list[ActivityLine]] = defaultdict(list)
    for author in authors:
        under[config.team_of(author.name)].append(author)
    by_team = {t.name: t for t in teams}
    lines: list[ActivityLine] = []
    for team in sorted(by_team.keys() | under.keys()):
        if team in by_team:
            lines.append(by_team[team])
        lines += sorted(under[team], key=lambda a: a.name)
    return lines, omitted


def _activity_line(row: Any) -> ActivityLine:
    return ActivityLine(
        name=row.name,
        is_team=row.dimension == "team",
        changes_prev=row.changes_prev_week,
        tasks_prev=row.tasks_prev_week,
        changes_last=row.changes_last_week,
        tasks_last=row.tasks_last_week,
        changes_trend=row.changes_trend,
        tasks_trend=row.tasks_trend,
        open_discovery=row.open_discovery,
        open_delivery=row.open_delivery,
    )


def _activity_weight(line: ActivityLine) -> tuple[int, int, str]:
    return (
        line.changes_last + line.changes_prev,
        line.open_discovery + line.open_delivery,
        line.name,
    )


def activity_size(lines: int) -> tuple[float, float]:
    """Figure inches (100 px each): a quarter inch per table row plus the header and
    the title, so the pixel size is exact."""
    return 10.0, 1.25 + 0.25 * (lines + 1)


def render_activity(rows: Sequence[Any], inputs: ReportInputs, path: Path) -> Path:
    """`rows`: report_status_activity rows (dimension, name, week_start, counters); not
    drawn again when `unchanged`. The table fills axes placed in inches (no layout
    engine: one drawing pass), a quarter inch per row."""
    key = input_key(path.name, inputs, "", rows)
    if unchanged(path, key):
        return path
    lines, omitted = activity_lines(rows, inputs.config)
    title = "Status changes, product queue"
    if not lines:
        fig = Figure(figsize=activity_size(0), layout="constrained")
        empty_figure(fig, title, "no status changes and no open tasks")
        return save_png(fig, path, key=key)
    width, height = activity_size(len(lines))
    fig = Figure(figsize=(width, height))
    last = rows[0].week_start
    prev = last - timedelta(days=7)
    top, bottom, side = ACTIVITY_TOP, ACTIVITY_BOTTOM, ACTIVITY_SIDE
    ax = fig.add_axes(
        (side / width, bottom / height, 1 - 2 * side / width, 1 - (top + bottom) / height)
    )
    ax.set_axis_off()
    ax.set_title(
        f"{title}: last week {last:%Y-%m-%d}..{last + timedelta(days=6):%m-%d} against the "
        f"week before {prev:%Y-%m-%d}..{prev + timedelta(days=6):%m-%d}\n"
        "changes (distinct tasks); \u25b2 more, \u25bc fewer, = the same as the week before"
        + (f"; {omitted} least active authors left out" if omitted else ""),
        fontsize=9,
    )
    table = ax.table(
        cellText=[line.cells() for line in lines],
        colLabels=list(ACTIVITY_HEADER),
        colWidths=[0.28, 0.12, 0.12, 0.12, 0.12, 0.12, 0.12],
        cellLoc="center",
        bbox=(0, 0, 1, 1),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    _style_activity_table(table, lines)
    return save_png(fig, path, key=key)


def _style_activity_table(table: Any, lines: Sequence[ActivityLine]) -> None:
    for col in range(len(ACTIVITY_HEADER)):
        table[0, col].set_facecolor(HEADER_COLOR)
        table[0, col].set_text_props(weight="bold", color="white")
    for row, line in enumerate(lines, start=1):
        for col in range(len(ACTIVITY_HEADER)):
            cell = table[row, col]
            cell.set_edgecolor("#bdbdbd")
            if line.is_team:
                cell.set_facecolor(TEAM_ROW_COLOR)
                cell.set_text_props(weight="bold")
        table[row, 0].set_text_props(ha="left")
        table[row, 0].PAD = 0.02
        for col, arrow in ((3, line.changes_arrow), (4, line.tasks_arrow)):
            table[row, col].set_text_props(color=TREND_COLORS[arrow])


# --------------------------------------------------------------------------- rendering


def render_product_pictures(
    engine: Engine, inputs: ReportInputs, directory: Path
) -> dict[tuple[str, str], Path]:
    """Render the product reports' pictures from the committed report tables, each query
    read once (the three heatmaps share theirs) and in a fixed order, so that equal
    tables give equal input keys: a picture whose inputs did not change is kept
    (`unchanged`).

    Returns (report table, picture name) -> path."""
    directory = Path(directory)
    with engine.connect() as conn:
        summary = conn.execute(
            sa.text(
                "SELECT * FROM report_ttm_summary WHERE dimension = 'team' ORDER BY name, period"
            )
        ).all()
        wip = conn.execute(sa.text(f"{WIP_SQL} ORDER BY team")).all()
        flow = conn.execute(
            sa.text("SELECT * FROM report_flow_weekly ORDER BY week_start, team")
        ).all()
        aging = conn.execute(
            sa.text(
                "SELECT current_status, age_in_status, team_status_p85, over_p85 "
                "FROM report_aging_wip ORDER BY current_status, age_in_status, "
                "team_status_p85, over_p85"
            )
        ).all()
    pictures = {
        ("report_ttm_summary", f"heatmap_{stat}"): render_heatmap(
            summary, wip, inputs, stat, directory / name
        )
        for stat, name in HEATMAP_FILES.items()
    }
    pictures[("report_flow_weekly", "cumulative_flow")] = render_cfd(flow, inputs, directory / CFD)
    pictures[("report_aging_wip", "aging_wip")] = render_aging(aging, inputs, directory / AGING)
    return pictures


def render_activity_pictures(
    engine: Engine, inputs: ReportInputs, directory: Path
) -> dict[str, Path]:
    """Render the activity table from the committed report_status_activity: name -> path."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM report_status_activity ORDER BY dimension, name")
        ).all()
    return {"status_activity": render_activity(rows, inputs, Path(directory) / ACTIVITY)}
