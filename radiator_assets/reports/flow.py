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

from sqlalchemy.engine import Connection

from radiator_assets.metrics.config import BLOCKS
from radiator_assets.reports.common import WEEK, ReportInputs, ReportResult, midnight, monday_of
from radiator_assets.reports.task_view import TaskView
from radiator_assets.reports.writing import TableWriter
from radiator_assets.storage.report_models import ReportFlowWeekly

TABLE = ReportFlowWeekly.__table__
BLOCK_COLUMNS = {block: ("paused" if block == "pause" else block) for block in BLOCKS}
WIP_BLOCKS = ("discovery", "delivery")


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

    def add(self, view: TaskView) -> None:
        if not self._n:
            return
        team = view.team
        self._team(team)
        arrived = self._week_index(view.task.created)
        if arrived is not None:
            self.arrivals[team][arrived] += 1
        completed = view.metrics.completed
        if view.metrics.finished and completed is not None:
            done_week = self._week_index(completed)
            if done_week is not None:
                self.throughput[team][done_week] += 1
        diff = self.diff[team]
        block = self.inputs.config.block
        ends = self.ends
        for stay in view.filtered:
            lo = bisect_left(ends, stay.start)
            hi = self._n if stay.end is None else bisect_left(ends, stay.end)
            if hi > lo:
                column = diff[block(stay.status)]
                column[lo] += 1
                column[hi] -= 1

    def rows(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for team in sorted(self.arrivals):
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

    def write(self, conn: Connection) -> ReportResult:
        writer = TableWriter(conn, TABLE)
        rows = self.rows()
        writer.write_many([[r[c.name] for c in TABLE.columns] for r in rows])
        result = ReportResult(TABLE.name, rows=writer.close())
        if self.weeks:
            last = self.weeks[-1]
            result.preview = [
                {k: r[k] for k in ("week_start", "team", "arrivals", "throughput", "wip")}
                for r in rows
                if r["week_start"] == last
            ]
        result.extra = {"weeks": len(self.weeks), "teams": len(self.arrivals)}
        return result
