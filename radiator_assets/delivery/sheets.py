"""Google Sheets: the exact batchUpdate requests that put a report on its own sheet.

Decisions:

* **Replaced in one step, in place.** A report is written to a new hidden sheet of its
  own run (`<title> (building <start> <run id>)`), chunk by chunk (`appendCells`), then
  one batchUpdate pastes it over the report's sheet (resized, its filter and rules applied
  again) and deletes it (`radiator_assets.delivery.sheets_api.swap_requests`). A
  batchUpdate is applied whole or not at all, so a reader sees the old sheet until then
  and the new one after; the sheet keeps its id, so links to it (`#gid=`) stay good. A
  run that dies half-way leaves a hidden sheet that a publish an hour later deletes.
* **Typed cells, no formulas.** Everything goes through `spreadsheets.batchUpdate` as
  `CellData` (numbers, booleans, strings; timestamps as date serial numbers with a
  date-time format), never `values.update` with USER_ENTERED: a task title starting with
  "=" stays text, nothing depends on the spreadsheet's locale (the predecessor's
  `=HYPERLINK("...";"...")` needed a Russian locale's ";"), and filters sort dates as dates.
* **Tracker keys are links**: the cell's text format links to `TRACKER_WEB_URL/<key>`.
* **Header**: bold, frozen, with a basic filter over the written range.
* **Thresholds**: each metric column (TTM, TTD, Tail, DevLT and their statistics) gets a
  conditional-format rule `NUMBER_GREATER <threshold>` painting the cell orange, as the
  predecessor did.
* **Pivots**: a `ttm_pivots` sheet per (team x period) from report_ttm_summary: for each
  metric, blocks of count, median (50th percentile) and p85, the threshold in the block's
  title and the over-threshold rule on median and p85.
* Rows stream from the database (server-side cursor) in chunks of `chunk_rows`: the
  process never holds a whole report table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.metrics.config import MetricsConfig, Thresholds
from radiator_assets.reports.export import header_ru

Cell = dict[str, Any]
Row = list[Cell]
Request = dict[str, Any]

SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
DEFAULT_TRACKER_WEB_URL = "https://tracker.yandex.ru"
PIVOT_TITLE = "ttm_pivots"
CHUNK_ROWS = 1000
#: the predecessor's orange for values over a threshold
OVER_THRESHOLD_COLOR = {"red": 1.0, "green": 0.647, "blue": 0.0}
LINK_COLUMNS = frozenset({"task_key", "key", "epic_key"})
METRICS = ("ttm", "ttd", "tail", "devlt")
METRIC_LABELS = {"ttm": "TTM", "ttd": "TTD", "tail": "Tail", "devlt": "DevLT"}
#: statistic columns of report_ttm_summary compared with the metric's threshold
THRESHOLD_STATS = ("", "_mean", "_median", "_p85", "_max")
PIVOT_STATS = (("count", "количество"), ("median", "50 перц."), ("p85", "85 перц."))
DATE_TIME_FORMAT = {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}
DATE_FORMAT = {"type": "DATE", "pattern": "yyyy-mm-dd"}
SHEETS_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)


def report_table_name(name: str) -> str:
    """`ttm_details` or `report_ttm_details` -> `report_ttm_details`."""
    name = name.strip().lower().replace("-", "_")
    return name if name.startswith("report_") else f"report_{name}"


def sheet_title(table: str) -> str:
    """The sheet of a report table: its name without `report_`."""
    return table.removeprefix("report_")


# --------------------------------------------------------------------------- cells


def serial_date(value: datetime | date) -> float:
    """A timestamp (UTC) or a day as a Sheets date serial number (days since 1899-12-30)."""
    if isinstance(value, datetime):
        return (value.astimezone(UTC) - SHEETS_EPOCH).total_seconds() / 86400
    return float((value - SHEETS_EPOCH.date()).days)


def cell(value: Any, link_base: str | None = None) -> Cell:
    """One typed cell; a string with `link_base` links to `link_base/<value>`."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, datetime | date):
        return {"userEnteredValue": {"numberValue": serial_date(value)}}
    if isinstance(value, int | float):
        number = round(value, 4) if isinstance(value, float) else value
        return {"userEnteredValue": {"numberValue": number}}
    text = str(value)
    out: Cell = {"userEnteredValue": {"stringValue": text}}
    if link_base is not None and text:
        out["userEnteredFormat"] = {"textFormat": {"link": {"uri": f"{link_base}/{text}"}}}
    return out


def grid_range(sheet_id: int, rows: tuple[int, int], columns: tuple[int, int]) -> dict[str, int]:
    return {
        "sheetId": sheet_id,
        "startRowIndex": rows[0],
        "endRowIndex": rows[1],
        "startColumnIndex": columns[0],
        "endColumnIndex": columns[1],
    }


def over_threshold_rule(range_: dict[str, int], threshold: int) -> Request:
    return {
        "addConditionalFormatRule": {
            "rule": {
                "ranges": [range_],
                "booleanRule": {
                    "condition": {
                        "type": "NUMBER_GREATER",
                        "values": [{"userEnteredValue": str(threshold)}],
                    },
                    "format": {"backgroundColor": OVER_THRESHOLD_COLOR},
                },
            },
            "index": 0,
        }
    }


def bold_row(sheet_id: int, row: int, columns: int) -> Request:
    return {
        "repeatCell": {
            "range": grid_range(sheet_id, (row, row + 1), (0, columns)),
            "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
            "fields": "userEnteredFormat.textFormat.bold",
        }
    }


def number_format(sheet_id: int, rows: tuple[int, int], column: int, fmt: Mapping[str, str]):
    return {
        "repeatCell": {
            "range": grid_range(sheet_id, rows, (column, column + 1)),
            "cell": {"userEnteredFormat": {"numberFormat": dict(fmt)}},
            "fields": "userEnteredFormat.numberFormat",
        }
    }


# --------------------------------------------------------------------------- sheets


class SheetContent(Protocol):
    """What one sheet holds: its title, width, rows (header first) and formatting."""

    @property
    def title(self) -> str: ...

    @property
    def column_count(self) -> int: ...

    def rows_to_write(self) -> int:
        """Rows the sheet will have, header included (for plans; reads no row)."""
        ...

    def row_chunks(self, chunk_rows: int) -> Iterator[list[Row]]: ...

    def formatting(self, sheet_id: int, rows_written: int) -> list[Request]:
        """Requests applied with the swap; `rows_written` counts the header too."""
        ...


def _threshold_of(column: str, thresholds: Thresholds) -> int | None:
    for metric in METRICS:
        if column in {f"{metric}{stat}" for stat in THRESHOLD_STATS}:
            return thresholds.for_metric(metric)
    return None


@dataclass(frozen=True)
class ReportSheet:
    """A report table as a sheet: Russian headers, linked keys, over-threshold rules."""

    engine: Engine
    table: sa.Table
    thresholds: Thresholds
    tracker_web_url: str = DEFAULT_TRACKER_WEB_URL

    @property
    def title(self) -> str:
        return sheet_title(self.table.name)

    @property
    def column_count(self) -> int:
        return len(self.table.columns)

    def header(self) -> Row:
        return [cell(header_ru(self.table, c.name)) for c in self.table.columns]

    def data_row(self, values: Sequence[Any]) -> Row:
        base = self.tracker_web_url.rstrip("/")
        return [
            cell(value, base if column.name in LINK_COLUMNS else None)
            for column, value in zip(self.table.columns, values, strict=True)
        ]

    def rows_to_write(self) -> int:
        with self.engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
        return int(count) + 1

    def row_chunks(self, chunk_rows: int) -> Iterator[list[Row]]:
        """The header, then the rows in primary-key order, `chunk_rows` at a time."""
        chunk: list[Row] = [self.header()]
        order = [self.table.c[c.name] for c in self.table.primary_key.columns]
        with self.engine.connect() as conn:
            result = conn.execute(
                sa.select(*self.table.columns).order_by(*order),
                execution_options={"yield_per": chunk_rows},
            )
            for partition in result.partitions(chunk_rows):
                for values in partition:
                    chunk.append(self.data_row(values))
                    if len(chunk) == chunk_rows:
                        yield chunk
                        chunk = []
        if chunk:
            yield chunk

    def formatting(self, sheet_id: int, rows_written: int) -> list[Request]:
        width = self.column_count
        end = max(rows_written, 1)
        data = (1, end)
        requests: list[Request] = [
            bold_row(sheet_id, 0, width),
            {"setBasicFilter": {"filter": {"range": grid_range(sheet_id, (0, end), (0, width))}}},
        ]
        for index, column in enumerate(self.table.columns):
            if isinstance(column.type, sa.DateTime):
                requests.append(number_format(sheet_id, data, index, DATE_TIME_FORMAT))
            elif isinstance(column.type, sa.Date):
                requests.append(number_format(sheet_id, data, index, DATE_FORMAT))
            threshold = _threshold_of(column.name, self.thresholds)
            if threshold is not None:
                requests.append(
                    over_threshold_rule(grid_range(sheet_id, data, (index, index + 1)), threshold)
                )
        return requests


@dataclass(frozen=True)
class PivotBlock:
    """One (metric, statistic) block: its title row and how many team rows follow."""

    metric: str
    stat: str
    title_row: int
    teams: int


def summary_by_team(engine: Engine) -> list[Any]:
    """The team rows of report_ttm_summary (periods x teams: a few hundred rows at most)."""
    columns = ", ".join(f"{m}_{s}" for m in METRICS for s, _ in PIVOT_STATS)
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    f"SELECT period, name, {columns} FROM report_ttm_summary "
                    "WHERE dimension = 'team'"
                )
            ).all()
        )


def ordered_periods(config: MetricsConfig, present: Iterable[str]) -> list[str]:
    """`present` periods in the configuration's order (unknown ones last, by name)."""
    order = {p.name: i for i, p in enumerate(config.periods)}
    return sorted(set(present), key=lambda p: (order.get(p, len(order)), p))


@dataclass(frozen=True)
class PivotSheet:
    """Team x period pivots of report_ttm_summary: for each metric a block of counts, one
    of medians (50th percentile) and one of p85s, stacked with a blank row between."""

    rows: list[Row]
    blocks: list[PivotBlock]
    column_count: int
    thresholds: Thresholds
    title: str = PIVOT_TITLE

    @classmethod
    def of(cls, summary: Sequence[Any], config: MetricsConfig) -> PivotSheet:
        periods = ordered_periods(config, (r.period for r in summary))
        teams = sorted({r.name for r in summary})
        by_cell = {(r.name, r.period): r for r in summary}
        rows: list[Row] = []
        blocks: list[PivotBlock] = []
        for metric in METRICS:
            threshold = config.thresholds.for_metric(metric)
            for stat, stat_label in PIVOT_STATS:
                title = f"{METRIC_LABELS[metric]}, {stat_label}"
                if stat != "count":
                    title += f" (порог {threshold})"
                blocks.append(PivotBlock(metric, stat, len(rows), len(teams)))
                rows.append([cell(title), *(cell(p) for p in periods)])
                for team in teams:
                    found = [by_cell.get((team, p)) for p in periods]
                    values = [None if r is None else getattr(r, f"{metric}_{stat}") for r in found]
                    rows.append([cell(team), *(cell(v) for v in values)])
                rows.append([])
        return cls(rows, blocks, 1 + max(len(periods), 1), config.thresholds)

    def rows_to_write(self) -> int:
        return len(self.rows)

    def row_chunks(self, chunk_rows: int) -> Iterator[list[Row]]:
        for start in range(0, len(self.rows), chunk_rows):
            yield self.rows[start : start + chunk_rows]

    def formatting(self, sheet_id: int, rows_written: int) -> list[Request]:
        requests: list[Request] = []
        for block in self.blocks:
            requests.append(bold_row(sheet_id, block.title_row, self.column_count))
            threshold = self.thresholds.for_metric(block.metric)
            if block.stat != "count" and block.teams and threshold is not None:
                first = block.title_row + 1
                values = grid_range(sheet_id, (first, first + block.teams), (1, self.column_count))
                requests.append(over_threshold_rule(values, threshold))
        return requests
