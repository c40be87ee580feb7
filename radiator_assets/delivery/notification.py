"""What changed since the last report, as a short Telegram message, and its attachments.

The previous report is remembered as a `Snapshot` (small, JSON: the sensor keeps it in
its cursor, so no table is needed): its `as_of`, the (task, metric) pairs over threshold
and each team's TTM p85. The change is computed in SQL against the report tables:

* tasks finished since: completed in (previous as_of, as_of]; with no previous report,
  in the week before as_of;
* new over-threshold items: (task, metric) over the metric's threshold now and not in
  the previous snapshot (every one on the first report);
* TTM p85 per team in the newest period that has finished tasks, with the arrow against
  the previous report's value for that team.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.delivery.sheets import METRIC_LABELS, ordered_periods
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports.export import table_layout, write_csv
from radiator_assets.storage.report_models import REPORT_TABLES

FIRST_REPORT_WINDOW = timedelta(days=7)
LISTED = 10
CSV_REPORT = "report_ttm_details"

_OVER_SQL = sa.text(
    "SELECT d.task_key, m.metric, m.value, m.threshold FROM report_ttm_details d "
    "CROSS JOIN LATERAL (VALUES ('ttm', d.ttm, :ttm), ('ttd', d.ttd, :ttd), "
    "('tail', d.tail, :tail), ('devlt', d.devlt, :devlt)) AS m(metric, value, threshold) "
    "WHERE m.value > m.threshold ORDER BY d.task_key, m.metric"
)
_FINISHED_SQL = sa.text(
    "SELECT task_key, team, ttm, count(*) OVER () AS total FROM report_ttm_details "
    "WHERE finished AND completed > :since AND completed <= :as_of "
    "ORDER BY completed, task_key LIMIT :listed"
)
_P85_SQL = sa.text(
    "SELECT period, name, ttm_p85 FROM report_ttm_summary "
    "WHERE dimension = 'team' AND ttm_p85 IS NOT NULL"
)


@dataclass(frozen=True)
class Snapshot:
    """What the last notified report showed; JSON-able for the sensor's cursor."""

    as_of: str
    over: list[str] = field(default_factory=list)
    ttm_p85: dict[str, float] = field(default_factory=dict)
    period: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            str(data["as_of"]),
            list(data.get("over", [])),
            dict(data.get("ttm_p85", {})),
            data.get("period"),
        )


@dataclass(frozen=True)
class OverItem:
    task_key: str
    metric: str
    value: int
    threshold: int

    @property
    def key(self) -> str:
        return f"{self.task_key}:{self.metric}"


@dataclass(frozen=True)
class TeamP85:
    team: str
    value: float
    previous: float | None


@dataclass(frozen=True)
class ReportChange:
    """The change since the previous report, and the snapshot to remember."""

    as_of: datetime
    finished_total: int
    finished: list[tuple[str, str, int | None]]
    new_over: list[OverItem]
    period: str | None
    ttm_p85: list[TeamP85]
    snapshot: Snapshot


def report_change(
    engine: Engine, config: MetricsConfig, as_of: datetime, previous: Snapshot | None
) -> ReportChange:
    """Compare the report tables (built as of `as_of`) with `previous`."""
    since = datetime.fromisoformat(previous.as_of) if previous else as_of - FIRST_REPORT_WINDOW
    limits = config.thresholds.model_dump()
    with engine.connect() as conn:
        over = [OverItem(*r) for r in conn.execute(_OVER_SQL, limits)]
        finished_rows = conn.execute(
            _FINISHED_SQL, {"since": since, "as_of": as_of, "listed": LISTED}
        ).all()
        p85_rows = conn.execute(_P85_SQL).all()
    seen = set(previous.over) if previous else set()
    periods = ordered_periods(config, (r.period for r in p85_rows))
    period = periods[-1] if periods else None
    current = {r.name: float(r.ttm_p85) for r in p85_rows if r.period == period}
    before = previous.ttm_p85 if previous and previous.period == period else {}
    return ReportChange(
        as_of=as_of,
        finished_total=int(finished_rows[0].total) if finished_rows else 0,
        finished=[(r.task_key, r.team, r.ttm) for r in finished_rows],
        new_over=[item for item in over if item.key not in seen],
        period=period,
        ttm_p85=[TeamP85(team, current[team], before.get(team)) for team in sorted(current)],
        snapshot=Snapshot(as_of.isoformat(), [item.key for item in over], current, period),
    )


def _trend(item: TeamP85) -> str:
    if item.previous is None:
        return ""
    if item.value > item.previous:
        return f" ↑ (было {item.previous:.0f})"
    if item.value < item.previous:
        return f" ↓ (было {item.previous:.0f})"
    return " ="


def summary_text(change: ReportChange, sheet_url: str | None = None) -> str:
    """The message: finished tasks, new over-threshold items, TTM p85 per team."""
    lines = [f"Отчёты обновлены: на {change.as_of:%Y-%m-%d %H:%M} UTC"]
    lines.append(f"Завершено задач с прошлого отчёта: {change.finished_total}")
    lines += [
        f"• {key} ({team}), TTM {'—' if ttm is None else ttm}" for key, team, ttm in change.finished
    ]
    if change.finished_total > len(change.finished):
        lines.append(f"… и ещё {change.finished_total - len(change.finished)}")
    lines.append(f"Новые выше порога: {len(change.new_over)}")
    lines += [
        f"• {item.task_key}: {METRIC_LABELS[item.metric]} {item.value} > {item.threshold}"
        for item in change.new_over[:LISTED]
    ]
    if len(change.new_over) > LISTED:
        lines.append(f"… и ещё {len(change.new_over) - LISTED}")
    if change.period is not None:
        lines.append(f"TTM p85 по командам ({change.period}):")
        lines += [f"• {item.team}: {item.value:.0f}{_trend(item)}" for item in change.ttm_p85]
    if sheet_url:
        lines.append(f"Таблица: {sheet_url}")
    return "\n".join(lines)


def write_details_csv(engine: Engine, directory: Path) -> Path:
    """report_ttm_details as CSV with Russian headers and a BOM (spreadsheets read it)."""
    path = Path(directory) / "ttm_details.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        write_csv(engine, table_layout(REPORT_TABLES[CSV_REPORT], "ru"), handle)
    return path
