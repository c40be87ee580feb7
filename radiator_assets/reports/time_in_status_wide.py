"""Time in status, wide form: one row per task, one column per status (days in it).

`radiator export time_in_status --wide [--queue CPO] [--created-since 2025-01-01]`,
the predecessor's status-time report. Decisions:

* It is a pivot of the stored long table `report_time_in_status` at export time,
  not a table of its own: its columns depend on the statuses configured and met,
  and the long table already holds every value. One SQL statement does the pivot
  (conditional aggregation, `sum(days + current_days) FILTER (WHERE status ...)`)
  and is read through a server-side cursor, a batch at a time.
* A value is the spec's time in status as of the report's `as_of`: closed stays
  plus the open current stay (`days + current_days`; the predecessor left the
  open stay out, against the spec). Empty when the task was never in the status;
  0 when it was, for less than a day.
* Columns: key, summary, current status, creation day, day of the last status
  change (start of the current stay), then one column per status met by the
  selected tasks, in the status file's order; spellings that match the same
  configured status (its key, its display name) share its column, named as in
  the file; statuses the file does not list follow, alphabetically.
* Summary and creation come from the task's live warehouse row (the row
  `stream_tasks` reads: not deleted, in the query, the most recently updated one
  for a key); a task gone from the warehouse since the build keeps its row with
  them empty, unless `--created-since` asks for a creation day.
* Filters: `--queue` (repeatable, case-insensitive) on the task's queue,
  `--created-since` on its creation (on or after 00:00 UTC of that day). Both
  choose the rows, and so the status columns too.
* Days are UTC days (`YYYY-MM-DD`), like every timestamp the reports store.
* Rows in natural key order (CPO-2 before CPO-10), as every export (`natural_key`).
* Headers are unique: a status column named like a fixed column (a status
  `summary`, or `Название` with Russian headers) gets ` (status)` / ` (статус)`.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.metrics.config import MetricsConfig, normalize_status
from radiator_assets.reports.common import midnight, natural_key
from radiator_assets.reports.loading import snapshot
from radiator_assets.storage.models import TrackerTask
from radiator_assets.storage.report_models import ReportTimeInStatus

LONG = ReportTimeInStatus.__table__
TASKS = TrackerTask.__table__
REPORT = LONG.name
BATCH_ROWS = 5000

#: what a status header that equals a fixed one is suffixed with, per header language
STATUS_SUFFIX = {"en": " (status)", "ru": " (статус)"}

#: the columns before the status columns: (name, Russian header as the predecessor had it)
FIXED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("task_key", "Ключ задачи"),
    ("summary", "Название"),
    ("current_status", "Текущий статус"),
    ("created", "Дата создания"),
    ("last_change", "Дата последнего изменения статуса"),
)


@dataclass(frozen=True)
class WideSelection:
    """Which tasks the wide form lists: of `queues` (all when empty), created on or
    after `created_since` (any when None)."""

    queues: tuple[str, ...] = ()
    created_since: date | None = None


@dataclass(frozen=True)
class StatusColumn:
    """One status column: its header and the stored status names summed into it."""

    name: str
    spellings: tuple[str, ...]


def status_columns(statuses: Iterable[str], config: MetricsConfig) -> list[StatusColumn]:
    """The status columns for the statuses met: configured ones in the file's order
    (their spellings merged, named as in the file), then unknown ones by name."""
    configured: dict[int, set[str]] = {}
    unknown: dict[str, set[str]] = {}
    positions = {status.name: i for i, status in enumerate(config.statuses)}
    for status in statuses:
        found = config.status(status)
        if found is not None:
            configured.setdefault(positions[found.name], set()).add(status)
        else:
            unknown.setdefault(normalize_status(status), set()).add(status)
    columns = [
        StatusColumn(config.statuses[i].name, tuple(sorted(names)))
        for i, names in sorted(configured.items())
    ]
    columns += [
        StatusColumn(min(names), tuple(sorted(names))) for _, names in sorted(unknown.items())
    ]
    return columns


def header_line(columns: Sequence[StatusColumn], headers: str = "en") -> list[str]:
    """The fixed headers, then one per status column; a status header equal to one
    already used (compared case-insensitively, as spreadsheets do) is suffixed."""
    fixed = [ru if headers == "ru" else name for name, ru in FIXED_COLUMNS]
    used = {normalize_status(header) for header in fixed}
    line = list(fixed)
    for column in columns:
        header = column.name
        while normalize_status(header) in used:
            header += STATUS_SUFFIX[headers]
        used.add(normalize_status(header))
        line.append(header)
    return line


def _live_task(key: sa.ColumnElement[Any]) -> sa.LateralFromClause:
    """The task's live warehouse row (as `stream_tasks` picks it), correlated on `key`."""
    return (
        sa.select(TASKS.c.summary, TASKS.c.created_at)
        .where(
            TASKS.c.key == key,
            TASKS.c.deleted_at.is_(None),
            TASKS.c.out_of_query_since.is_(None),
        )
        .order_by(TASKS.c.task_updated_at.desc().nulls_last(), TASKS.c.id.desc())
        .limit(1)
        .lateral("task")
    )


def _queue_filter(selection: WideSelection) -> list[sa.ColumnElement[bool]]:
    if not selection.queues:
        return []
    return [sa.func.lower(LONG.c.queue).in_([q.strip().lower() for q in selection.queues])]


def _created_filter(
    task: sa.LateralFromClause, selection: WideSelection
) -> list[sa.ColumnElement[bool]]:
    if selection.created_since is None:
        return []
    return [task.c.created_at >= midnight(selection.created_since)]


def statuses_met(conn: Connection, selection: WideSelection) -> list[str]:
    """The distinct stored statuses of the selected tasks' rows."""
    query = sa.select(LONG.c.status).distinct().where(*_queue_filter(selection))
    if selection.created_since is not None:
        task = _live_task(LONG.c.task_key)
        query = query.join(task, sa.true()).where(*_created_filter(task, selection))
    return list(conn.scalars(query))


def _utc_day(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.cast(sa.func.timezone("UTC", column), sa.Date)


def pivot_query(columns: Sequence[StatusColumn], selection: WideSelection) -> sa.Select[Any]:
    """One row per selected task: FIXED_COLUMNS, then the days of each status column."""
    days = LONG.c.days + LONG.c.current_days
    per_task = (
        sa.select(
            LONG.c.task_key,
            sa.func.max(LONG.c.current_status).label("current_status"),
            sa.func.max(LONG.c.last_change).label("last_change"),
            *(
                sa.func.sum(days).filter(LONG.c.status.in_(column.spellings)).label(f"s{i}")
                for i, column in enumerate(columns)
            ),
        )
        .where(*_queue_filter(selection))
        .group_by(LONG.c.task_key)
        .subquery("per_task")
    )
    task = _live_task(per_task.c.task_key)
    return (
        sa.select(
            per_task.c.task_key,
            task.c.summary,
            per_task.c.current_status,
            _utc_day(task.c.created_at).label("created"),
            _utc_day(per_task.c.last_change).label("last_change"),
            *(per_task.c[f"s{i}"] for i in range(len(columns))),
        )
        .select_from(per_task.outerjoin(task, sa.true()))
        .where(*_created_filter(task, selection))
        .order_by(*natural_key(per_task.c.task_key))
    )


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_wide_csv(
    engine: Engine,
    config: MetricsConfig,
    out: IO[str],
    selection: WideSelection,
    *,
    headers: str = "en",
    delimiter: str = ",",
) -> int:
    """Write the wide form as CSV to `out` (one snapshot of the warehouse); returns the
    number of data rows."""
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    count = 0
    with snapshot(engine) as conn:
        columns = status_columns(statuses_met(conn, selection), config)
        writer.writerow(header_line(columns, headers))
        result = conn.execute(
            pivot_query(columns, selection), execution_options={"yield_per": BATCH_ROWS}
        )
        for partition in result.partitions(BATCH_ROWS):
            writer.writerows([_cell(v) for v in row] for row in partition)
            count += len(partition)
    return count


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `radiator export` flags of the wide form."""
    parser.add_argument(
        "--wide",
        action="store_true",
        help="time_in_status only: one row per task, one column per status (days)",
    )
    parser.add_argument(
        "--queue",
        action="append",
        default=[],
        help="with --wide: only tasks of this queue (repeat for several)",
    )
    parser.add_argument(
        "--created-since", help="with --wide: only tasks created on or after this day (YYYY-MM-DD)"
    )


def selection_of(args: argparse.Namespace, table: sa.Table) -> WideSelection | None:
    """The wide form's selection when `args` ask for it, else None; raises ValueError
    (a message for the user) for flags that do not fit together."""
    queues = [q for q in args.queue if q.strip()]
    if not args.wide:
        if queues or args.created_since:
            raise ValueError("--queue and --created-since go with --wide")
        return None
    if table.name != REPORT:
        raise ValueError(f"--wide is for time_in_status, not {table.name.removeprefix('report_')}")
    since = None
    if args.created_since:
        try:
            since = date.fromisoformat(args.created_since.strip())
        except ValueError:
            raise ValueError(
                f"--created-since {args.created_since!r} is not a day like 2025-01-31"
            ) from None
    return WideSelection(queues=tuple(queues), created_since=since)
