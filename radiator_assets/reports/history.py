"""Snapshots of the summary per as_of: report_summary_history and report_flow_history.

Every product build keeps one (`write_snapshot`, in the transaction that wrote
the summary): the report_ttm_summary rows with the build's as_of, and per team
the work in progress and throughput of the last week of report_flow_weekly,
the open tasks of report_aging_wip older than the team's p85, and the
unfinished details rows that went through development (how many, and their
DevLT to as_of: what radiator's month-to-month comparison script counted).
The snapshot is a function of those stored rows, copied by `INSERT ... SELECT`:
however the rows are built (issue 13 makes the builds incremental), the
snapshot follows.

One snapshot per UTC day: a build replaces the snapshot of its day (the rows
of any as_of on that day are deleted, then its own inserted), so the day keeps
the newest build's as_of and numbers; a sensor-driven deployment that builds
every few minutes keeps one snapshot a day, not thousands. The day of a
snapshot is the UTC day of its last instant (just before as_of), as for its
period and the trend buckets: a weekly partition's Monday 00:00 closes the
Sunday before, so a build on Monday does not replace it, nor it that build.

A snapshot of a past as_of (the metrics are as_of-reproducible) is made
without touching the report tables (`backfill.py`): the product build runs into
temporary tables of the same names, which shadow the report tables for that
transaction only (`shadow_tables`), and only the snapshot is committed.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.reports.common import ReportInputs
from radiator_assets.storage.report_models import (
    ReportFlowHistory,
    ReportSummaryHistory,
    ReportTtmSummary,
)

SUMMARY_HISTORY = ReportSummaryHistory.__table__
FLOW_HISTORY = ReportFlowHistory.__table__
#: the summary columns copied into each snapshot (report_ttm_summary's, in its order)
SUMMARY_COLUMNS = [c.name for c in ReportTtmSummary.__table__.columns]
JUST_BEFORE = timedelta(microseconds=1)

_COPY_SUMMARY = sa.text(
    f"INSERT INTO report_summary_history (as_of, current_period, {', '.join(SUMMARY_COLUMNS)}) "
    f"SELECT :as_of, period IS NOT DISTINCT FROM :current_period, {', '.join(SUMMARY_COLUMNS)} "
    "FROM report_ttm_summary"
)

# The last week of report_flow_weekly is the one as_of closes (or lies in): its WIP is
# the WIP at as_of. percentile_cont is aggregate.p85's linear interpolation.
_COPY_FLOW = sa.text(
    """
INSERT INTO report_flow_history (
    as_of, team, week_start, wip, throughput, arrivals, aging_over_p85, in_development,
    in_development_devlt_mean, in_development_devlt_median, in_development_devlt_p85)
SELECT :as_of, f.team, f.week_start, f.wip, f.throughput, f.arrivals,
       COALESCE(a.over_p85, 0), COALESCE(d.tasks, 0), d.mean, d.median, d.p85
FROM report_flow_weekly f
LEFT JOIN (
    SELECT team, count(*) FILTER (WHERE over_p85) AS over_p85
    FROM report_aging_wip GROUP BY team
) a ON a.team = f.team
LEFT JOIN (
    SELECT team, count(*) AS tasks, avg(devlt) AS mean,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY devlt) AS median,
           percentile_cont(0.85) WITHIN GROUP (ORDER BY devlt) AS p85
    FROM report_ttm_details
    WHERE NOT finished AND went_through_development AND devlt IS NOT NULL
    GROUP BY team
) d ON d.team = f.team
WHERE f.week_start = (SELECT max(week_start) FROM report_flow_weekly)
"""
)


def snapshot_period(inputs: ReportInputs) -> str | None:
    """The period of the snapshot's last instant (just before as_of): a snapshot at a
    Monday 00:00 belongs to the week, and the period, that ended then."""
    return inputs.config.period_of(inputs.as_of - JUST_BEFORE)


def snapshot_day(as_of: datetime) -> tuple[datetime, datetime]:
    """The UTC day a snapshot at `as_of` describes, as the as_of range `(after, until]`:
    the day of its last instant (just before as_of), so 00:00 closes the day before."""
    day = (as_of - JUST_BEFORE).astimezone(UTC).date()
    after = datetime.combine(day, time(), tzinfo=UTC)
    return after, after + timedelta(days=1)


def write_snapshot(conn: Connection, inputs: ReportInputs) -> dict[str, int]:
    """Replace the snapshot of `inputs.as_of`'s day (see `snapshot_day`) with the report
    rows visible to `conn` (call it in the transaction that wrote them); returns rows
    per history table."""
    params: dict[str, Any] = {"as_of": inputs.as_of, "current_period": snapshot_period(inputs)}
    after, until = snapshot_day(inputs.as_of)
    written: dict[str, int] = {}
    for table, copy in ((SUMMARY_HISTORY, _COPY_SUMMARY), (FLOW_HISTORY, _COPY_FLOW)):
        conn.execute(table.delete().where(table.c.as_of > after, table.c.as_of <= until))
        written[table.name] = conn.execute(copy, params).rowcount
    return written


def shadow_tables(conn: Connection, names: tuple[str, ...]) -> None:
    """Temporary tables shaped like `names`, dropped at commit, that the transaction's
    unqualified names resolve to first (its search path starts with pg_temp), so a
    build writes and reads them instead of the report tables."""
    for name in names:  # `LIKE name` still names the report table here
        conn.execute(
            sa.text(f'CREATE TEMP TABLE "{name}" (LIKE "{name}" INCLUDING ALL) ON COMMIT DROP')
        )
    conn.execute(
        sa.text(
            "SELECT set_config('search_path', 'pg_temp, ' || current_setting('search_path'), true)"
        )
    )
    shadowed = conn.scalar(
        sa.text(
            "SELECT count(*) FROM unnest(CAST(:names AS text[])) n "
            "JOIN pg_class c ON c.oid = to_regclass(quote_ident(n)) "
            "WHERE c.relnamespace = pg_my_temp_schema()"
        ),
        {"names": list(names)},
    )
    if shadowed != len(names):
        raise RuntimeError(f"could not shadow the report tables {names} with temporary ones")
