"""report_time_in_status: for every task of every synced queue, days per status.

Raw history (no short-stay filter) clipped to as_of. `days` sums the closed
stays of a status by the engine's `time_in_status` (each run of the status
counts up to the next different status's start, floored); the open current stay
is not in `days` but in `current_days` (to as_of) on the current status's row,
so `days + current_days` is the spec's time in status with the open stay
counted. `entries` is how many times the task entered the status. One row per
(task, status); a task's current status always has a row.
"""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine

from radiator_assets.metrics.engine import testing_returns, time_in_status
from radiator_assets.metrics.stays import floor_days
from radiator_assets.reports.common import ReportInputs, ReportResult, TopN
from radiator_assets.reports.loading import DEFAULT_BATCH_SIZE, TaskHistory, snapshot, stream_tasks
from radiator_assets.reports.writing import TableWriter
from radiator_assets.storage.report_models import ReportTimeInStatus
from radiator_assets.storage.unit_of_work import unit_of_work

TABLE = ReportTimeInStatus.__table__
COLUMNS = [c.name for c in TABLE.columns]
PREVIEW_ROWS = 10


def task_rows(task: TaskHistory, inputs: ReportInputs) -> list[tuple]:
    """The report rows of one task, in COLUMNS order."""
    as_of, config = inputs.as_of, inputs.config
    stays = task.stays  # starts <= as_of already; the engine clears ends after it
    current = stays[-1]
    current_open = current.end is None or current.end > as_of
    closed = stays[:-1] if current_open else stays
    days = time_in_status(closed, as_of) if closed else {}
    entries = {status: n + 1 for status, n in testing_returns(stays, as_of).items()}
    current_days = floor_days(current.start, as_of) if current_open else 0
    statuses = list(days)
    if current.status not in days:
        statuses.append(current.status)
    return [
        (
            task.key,
            status,
            task.queue,
            config.block(status),
            days.get(status, 0),
            current_days if status == current.status else 0,
            entries.get(status, 0),
            status == current.status,
            current.status,
            current.start,
        )
        for status in statuses
    ]


def build_time_in_status(
    engine: Engine, inputs: ReportInputs, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> ReportResult:
    """Replace report_time_in_status (every queue)."""
    started = time.perf_counter()
    longest = TopN(PREVIEW_ROWS, key=lambda r: r["days"] + r["current_days"])
    tasks = 0
    index = {c: i for i, c in enumerate(COLUMNS)}
    with snapshot(engine) as reader, unit_of_work(engine) as conn:
        writer = TableWriter(conn, TABLE, COLUMNS)
        for batch in stream_tasks(reader, as_of=inputs.as_of, batch_size=batch_size):
            for task in batch:
                for row in task_rows(task, inputs):
                    writer.write(row)
                    if row[index["days"]] + row[index["current_days"]] > 0:
                        longest.add(
                            {
                                c: row[index[c]]
                                for c in ("task_key", "status", "days", "current_days")
                            }
                        )
            tasks += len(batch)
        rows = writer.close()
    result = ReportResult(TABLE.name, rows=rows, preview=longest.items())
    result.extra = {"tasks": tasks}
    result.seconds["build"] = time.perf_counter() - started
    return result
