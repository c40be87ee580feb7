"""PNG pictures of the reports, drawn with matplotlib's Agg renderer (no display, no pyplot).

* `ttm_heatmap.png`: team x period, p85 and median of TTM, Tail and DevLT
  (report_ttm_summary); cells over the metric's threshold are outlined in red
  and their value is marked with "!";
* `cumulative_flow.png`: tasks per block at each week's end, stacked
  (report_flow_weekly, all teams);
* `aging_wip.png`: open tasks by current status and age in it, red when older
  than the team's p85 for that status (report_aging_wip).

Files are written next to each other under `settings.reports_dir` and replaced
atomically (write to a temporary name, then rename).
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from sqlalchemy.engine import Engine

from radiator_assets.reports.common import ReportInputs

HEATMAP = "ttm_heatmap.png"
CFD = "cumulative_flow.png"
AGING = "aging_wip.png"
HEATMAP_METRICS = (("ttm", "TTM"), ("tail", "Tail"), ("devlt", "DevLT"))
HEATMAP_STATS = (("p85", "p85"), ("median", "median"))
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


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def _empty(fig: Figure, title: str, message: str) -> None:
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)


def render_heatmap(rows: Sequence[Any], inputs: ReportInputs, path: Path) -> Path:
    """`rows`: report_ttm_summary rows of dimension 'team' (attribute access)."""
    order = {p.name: i for i, p in enumerate(inputs.config.periods)}
    periods = sorted({r.period for r in rows}, key=lambda p: (order.get(p, len(order)), p))
    teams = sorted({r.name for r in rows})
    by_cell = {(r.name, r.period): r for r in rows}
    width = max(8.0, 2.2 + 1.1 * len(periods) * len(HEATMAP_STATS))
    height = max(6.0, 1.5 + 0.45 * len(teams) * len(HEATMAP_METRICS))
    fig = Figure(figsize=(min(width, 40), min(height, 40)), layout="constrained")
    if not rows:
        _empty(fig, "TTM / Tail / DevLT by team and period", "no finished tasks in any period")
        return _save(fig, path)
    axes = fig.subplots(len(HEATMAP_METRICS), len(HEATMAP_STATS), squeeze=False)
    thresholds = inputs.config.thresholds
    for i, (metric, label) in enumerate(HEATMAP_METRICS):
        limit = thresholds.for_metric(metric) or 1
        for j, (stat, stat_label) in enumerate(HEATMAP_STATS):
            ax = axes[i][j]
            grid = [
                [_cell(by_cell.get((team, period)), f"{metric}_{stat}") for period in periods]
                for team in teams
            ]
            shown = [[float("nan") if v is None else v for v in row] for row in grid]
            ax.imshow(shown, cmap="RdYlGn_r", vmin=0, vmax=2 * limit, aspect="auto")
            ax.set_title(f"{label} {stat_label} (days; threshold {limit})", fontsize=10)
            bottom, left = i == len(HEATMAP_METRICS) - 1, j == 0
            ax.set_xticks(
                range(len(periods)), periods if bottom else [], rotation=45, ha="right", fontsize=8
            )
            ax.set_yticks(range(len(teams)), teams if left else [], fontsize=8)
            for y, row in enumerate(grid):
                for x, value in enumerate(row):
                    if value is None:
                        continue
                    over = value > limit
                    ax.text(
                        x,
                        y,
                        f"{value:.0f}{'!' if over else ''}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        fontweight="bold" if over else "normal",
                    )
                    if over:
                        ax.add_patch(
                            Rectangle(
                                (x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2
                            )
                        )
    fig.suptitle(f"Finished tasks by team and period, as of {inputs.as_of:%Y-%m-%d %H:%M} UTC")
    return _save(fig, path)


def _cell(row: Any, column: str) -> float | None:
    if row is None:
        return None
    value = getattr(row, column)
    return None if value is None else float(value)


def render_cfd(rows: Sequence[Any], inputs: ReportInputs, path: Path) -> Path:
    """`rows`: report_flow_weekly rows (summed over teams here)."""
    fig = Figure(figsize=(12, 6), layout="constrained")
    if not rows:
        _empty(fig, "Cumulative flow", "no product tasks")
        return _save(fig, path)
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
    return _save(fig, path)


def render_aging(rows: Sequence[Any], inputs: ReportInputs, path: Path) -> Path:
    """`rows`: report_aging_wip rows (current_status, age_in_status, team_status_p85, over_p85)."""
    fig = Figure(figsize=(12, 6), layout="constrained")
    if not rows:
        _empty(fig, "Aging work in progress", "no open tasks")
        return _save(fig, path)
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
    return _save(fig, path)


def render_product_pictures(
    engine: Engine, inputs: ReportInputs, directory: Path
) -> dict[tuple[str, str], Path]:
    """Render the three pictures from the committed report tables.

    Returns (report table, picture name) -> path."""
    directory = Path(directory)
    with engine.connect() as conn:
        summary = conn.execute(
            sa.text("SELECT * FROM report_ttm_summary WHERE dimension = 'team'")
        ).all()
        flow = conn.execute(sa.text("SELECT * FROM report_flow_weekly")).all()
        aging = conn.execute(
            sa.text(
                "SELECT current_status, age_in_status, team_status_p85, over_p85 "
                "FROM report_aging_wip"
            )
        ).all()
    return {
        ("report_ttm_summary", "heatmap"): render_heatmap(summary, inputs, directory / HEATMAP),
        ("report_flow_weekly", "cumulative_flow"): render_cfd(flow, inputs, directory / CFD),
        ("report_aging_wip", "aging_wip"): render_aging(aging, inputs, directory / AGING),
    }
