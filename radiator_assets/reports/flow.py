"""report_flow_weekly: per week (Monday 00:00 UTC) and team, product queue.

* arrivals: tasks created that week;
* throughput: tasks whose completion date (engine, as of as_of) falls in that week;
* backlog / discovery / delivery / done / cancelled / paused: tasks whose status at
  the week's end (the next Monday 00:00, or as_of for the week containing it) is
  in that block, on the short-stay-filtered history (a pause-role status counts
  as paused; unknown statuses as discovery, like the engine);
* wip = discovery + delivery at the week's end;
* cumulative arrivals and throughput since the first week.

Each task's stays add +1/-1 to per-team difference arrays over the week-end
instants, so a task costs O(stays), not O(weeks), and memory is O(teams x weeks).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.metrics.config import BLOCKS
from radiator_assets.reports.common import WEEK, ReportInputs, ReportResult, midnight, monday_of
from radiator_assets.reports.task_view import TaskView
from radiator_assets.reports.writing import TableWriter
from radiator_assets.storage.report_models import ReportFlowWeekly

TABLE = ReportFlowWeekly.__table__
BLOCK_COLUMNS = {block: ("paused" if block == "pause" else block) for block in BLOCKS}
WIP_BLOCKS = ("discovery", "delivery")
BLOCK_INDEX = {block: i for i, block in enumerate(BLOCKS)}


class FlowCollector:
    """Accumulates the weekly flow of product tasks; `write` replaces the table."""

    def __init__(self, inputs: ReportInputs, first_created: datetime | None) -> None:
        self.inputs = inputs
        as_of = inputs.as_of
        if first_created is None:
            self.weeks: list[date] = []
        else:
            first = monday_of(first_created)
            last = monday_of(as_of - timedelta(microseconds=1))
            count = max(0, (last - first).days // 7 + 1)
            self.weeks = [first + timedelta(days=7 * i) for i in range(count)]
        # the instant each week's snapshot is taken: its end, or as_of for the last one
        self.ends = [min(midnight(w) + WEEK, as_of) for w in self.weeks]
        self.starts = [midnight(w) for w in self.weeks]
        n = len(self.weeks)
        self._n = n
        self.arrivals: dict[str, list[int]] = {}
        self.throughput: dict[str, list[int]] = {}
        self.diff: dict[str, dict[str, list[int]]] = {}

    def _team(self, team: str) -> None:
        if team not in self.arrivals:
            n = self._n
            self.arrivals[team] = [0] * n
            self.throughput[team] = [0] * n
            self.diff[team] = {block: [0] * (n + 1) for block in BLOCKS}

    def _week_index(self, moment: datetime) -> int | None:
        i = bisect_right(self.starts, moment) - 1
        return i if 0 <= i < self._n else None

    def contribution(self, view: TaskView) -> list[Any] | None:
        """The task's share of the table, `[team, arrival week, throughput week, spans]`
        (weeks as indices, None when outside; spans `[block index, lo, hi]` add 1 to
        the block from week end `lo` up to `hi`): what an incremental build stores per
        task to subtract it later. None when there are no weeks."""
        if not self._n:
            return None
        arrived = self._week_index(view.task.created)
        completed = view.metrics.completed
        done_week = None
        if view.metrics.finished and completed is not None:
            done_week = self._week_index(completed)
        block = self.inputs.config.block
        ends = self.ends
        spans: list[list[int]] = []
        for stay in view.filtered:
            lo = bisect_left(ends, stay.start)
            hi = self._n if stay.end is None else bisect_left(ends, stay.end)
            if hi > lo:
                spans.append([BLOCK_INDEX[block(stay.status)], lo, hi])
        return [view.team, arrived, done_week, spans]

    def apply(self, contribution: list[Any], sign: int = 1) -> None:
        """Add (`sign` 1) or subtract (-1) a task's `contribution`."""
        team, arrived, done_week, spans = contribution
        self._team(team)
        if arrived is not None:
            self.arrivals[team][arrived] += sign
        if done_week is not None:
            self.throughput[team][done_week] += sign
        diff = self.diff[team]
        for block, lo, hi in spans:
            column = diff[BLOCKS[block]]
            column[lo] += sign
            column[hi] -= sign

    def add(self, view: TaskView) -> list[Any] | None:
        """Count the task in; returns its `contribution`."""
        contribution = self.contribution(view)
        if contribution is not None:
            self.apply(contribution)
        return contribution

    def load(self, conn: Connection) -> None:
        """Start from the stored table (an incremental build: same weeks, see the grain):
        its weekly counts become the arrivals, throughput and block differences."""
        index = {week: i for i, week in enumerate(self.weeks)}
        rows = conn.execute(sa.select(TABLE).order_by(TABLE.c.team, TABLE.c.week_start))
        previous: dict[str, dict[str, int]] = {}
        for row in rows.mappings():
            team, i = row["team"], index[row["week_start"]]
            self._team(team)
            self.arrivals[team][i] = row["arrivals"]
            self.throughput[team][i] = row["throughput"]
            before = previous.setdefault(team, dict.fromkeys(BLOCKS, 0))
            for block in BLOCKS:
                count = row[BLOCK_COLUMNS[block]]
                self.diff[team][block][i] = count - before[block]
                before[block] = count

    def rows(self, teams: set[str] | None = None) -> list[dict[str, Any]]:
        """The table's rows, of `teams` (default: every team seen)."""
        out: list[dict[str, Any]] = []
        for team in sorted(self.arrivals if teams is None else teams & self.arrivals.keys()):
            running = dict.fromkeys(BLOCKS, 0)
            cumulative_in = cumulative_out = 0
            for i, week in enumerate(self.weeks):
                for block in BLOCKS:
                    running[block] += self.diff[team][block][i]
                cumulative_in += self.arrivals[team][i]
                cumulative_out += self.throughput[team][i]
                out.append(
                    {
                        "week_start": week,
                        "team": team,
                        "arrivals": self.arrivals[team][i],
                        "throughput": self.throughput[team][i],
                        "wip": sum(running[b] for b in WIP_BLOCKS),
                        **{BLOCK_COLUMNS[b]: running[b] for b in BLOCKS},
                        "cumulative_arrivals": cumulative_in,
                        "cumulative_throughput": cumulative_out,
                    }
                )
        return out

    def write(self, conn: Connection, teams: set[str] | None = None) -> ReportResult:
        """Replace the table (with the rows of `teams`, default every team seen)."""
        writer = TableWriter(conn, TABLE)
        rows = self.rows(teams)
        writer.write_many([[r[c.name] for c in TABLE.columns] for r in rows])
        result = ReportResult(TABLE.name, rows=writer.close())
        if self.weeks:
            last = self.weeks[-1]
            result.preview = [
                {k: r[k] for k in ("week_start", "team", "arrivals", "throughput", "wip")}
                for r in rows
                if r["week_start"] == last
            ]
        result.extra = {"weeks": len(self.weeks), "teams": len({r["team"] for r in rows})}
        return result
