"""report_aging_wip: open product tasks and how long they have been where they are.

Open: not finished and not cancelled (engine, as of as_of), currently in a
discovery, delivery or pause status. For each: days in the current status (the
current raw stay, to as_of), days since work started (engine's `work_started`)
and since creation, against the p85 of the team's closed stays in that status.

The p85 is computed in SQL over every closed (as of as_of) raw stay of the
team's product tasks, finished or not, from the histogram report_aging_stay_days
(team, status, days -> stays), kept by delta between builds (`update_stay_days`):
the same linear interpolation between closest ranks as `percentile_cont(0.85)` and
`aggregate.p85` (a test checks).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.metrics.stays import floor_days
from radiator_assets.reports.common import ReportInputs, ReportResult, TopN
from radiator_assets.reports.loading import queue_params, task_filter
from radiator_assets.reports.task_view import TaskView
from radiator_assets.reports.writing import TableWriter, copy_rows
from radiator_assets.storage.report_models import ReportAgingWip

TABLE = ReportAgingWip.__table__
COLUMNS = [c.name for c in TABLE.columns]
OPEN_BLOCKS = ("discovery", "delivery", "pause")
PREVIEW_ROWS = 10


def create_author_teams(conn: Connection, inputs: ReportInputs) -> None:
    """A temporary table author -> team for every author of a visible product task."""
    queues = [inputs.config.queues.product]
    authors = conn.scalars(
        sa.text(f"SELECT DISTINCT author FROM tracker_tasks WHERE {task_filter(queues)}"),
        {"as_of": inputs.as_of, **queue_params(queues)},
    ).all()
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE rep_author_team (author text PRIMARY KEY, team text NOT NULL) "
            "ON COMMIT DROP"
        )
    )
    rows = [(a, inputs.config.team_of(a)) for a in authors if a is not None]
    copy_rows(conn, sa.table("rep_author_team"), ["author", "team"], rows)  # type: ignore[arg-type]


#: the closed (as of as_of) stays of the visible product tasks (`rep_fp`), per task, team,
#: status and whole days; `{changed}` limits them to the recomputed tasks
_STAY_DAYS = """
CREATE TEMP TABLE rep_stay_days ON COMMIT DROP AS
SELECT h.task_id, COALESCE(m.team, :no_team) AS team, h.status,
       floor(extract(epoch FROM h.end_date - h.start_date) / 86400)::int AS days,
       count(*) AS stays
FROM tracker_task_history h
JOIN rep_fp f ON f.task_id = h.task_id
JOIN tracker_tasks t ON t.id = h.task_id
LEFT JOIN rep_author_team m ON m.author = t.author
WHERE h.end_date IS NOT NULL AND h.end_date <= :as_of{changed}
GROUP BY 1, 2, 3, 4
"""

_DELTA = """
INSERT INTO report_aging_stay_days (team, status, days, stays)
SELECT team, status, days, sum(stays) FROM (
    SELECT team, status, days, stays FROM rep_stay_days
    UNION ALL
    SELECT e ->> 0, e ->> 1, (e ->> 2)::int, -(e ->> 3)::bigint
    FROM report_build_tasks b CROSS JOIN LATERAL jsonb_array_elements(b.state -> 's') e
    WHERE b.family = :family AND b.task_id IN (SELECT task_id FROM rep_changed_ids)
) d
GROUP BY 1, 2, 3 HAVING sum(stays) <> 0
ON CONFLICT (team, status, days) DO UPDATE SET stays = report_aging_stay_days.stays + excluded.stays
"""

# percentile_cont(0.85) of the days the histogram counts: PostgreSQL's own formula
# (orderedsetaggs.c: rank = 0.85 * (n - 1) in float8, lo + (rank - floor rank) * (hi - lo)),
# which is also aggregate.p85's, over the rows at 0-based positions floor(rank), ceil(rank).
_P85 = """
CREATE TEMP TABLE rep_p85 ON COMMIT DROP AS
WITH c AS (
    SELECT team, status, days, stays,
           sum(stays) OVER (PARTITION BY team, status ORDER BY days) - stays AS before,
           sum(stays) OVER (PARTITION BY team, status) AS total
    FROM report_aging_stay_days
),
r AS (SELECT DISTINCT team, status, 0.85::float8 * (total - 1) AS rank FROM c)
SELECT r.team, r.status,
       lo.days::float8 + (r.rank - floor(r.rank)) * (hi.days::float8 - lo.days::float8) AS p85
FROM r
JOIN c lo ON lo.team = r.team AND lo.status = r.status
 AND floor(r.rank) >= lo.before AND floor(r.rank) < lo.before + lo.stays
JOIN c hi ON hi.team = r.team AND hi.status = r.status
 AND ceil(r.rank) >= hi.before AND ceil(r.rank) < hi.before + hi.stays
"""

# rep_task_state with each task's closed stays merged into its state "s": a new table
# from a FULL JOIN, which replaces the old one (a task with stays but no row of the pass,
# a key's older task, gets a row with only "s"). "s" is [[team, status, days, stays], ...]
# in text (`_DELTA` reads them with ->>): one to_jsonb of a two-dimensional text array
# per task costs less than half a jsonb_agg of jsonb_build_array per stay (1.0 s against
# 2.3 s for the 685k (task, status, days) groups of 50k tasks).
_STATES = """
CREATE TEMP TABLE rep_task_state_merged ON COMMIT DROP AS
SELECT COALESCE(t.task_id, s.task_id) AS task_id,
       CASE WHEN s.task_id IS NULL THEN t.state
            ELSE COALESCE(t.state, '{}'::jsonb) || jsonb_build_object('s', s.stays) END AS state,
       t.recompute_at
FROM rep_task_state t
FULL JOIN (
    SELECT task_id, to_jsonb(array_agg(ARRAY[team, status, days::text, stays::text])) AS stays
    FROM rep_stay_days GROUP BY task_id
) s ON s.task_id = t.task_id;
DROP TABLE rep_task_state;
ALTER TABLE rep_task_state_merged RENAME TO rep_task_state;
ALTER TABLE rep_task_state ADD PRIMARY KEY (task_id)
"""


def update_stay_days(
    conn: Connection, inputs: ReportInputs, *, family: str, full: bool
) -> dict[tuple[str, str], float]:
    """Bring the histogram report_aging_stay_days to as_of and return (team, status) ->
    p85 of the days of closed raw stays (also in the temporary table rep_p85).

    Full: rebuilt from every visible product task (`rep_fp` of `changes.plan_changes`;
    needs `create_author_teams`). Incremental: the recomputed tasks' stored
    contributions (state "s") are subtracted and their new ones added. A GROUP BY
    over the stays (hashed) replaces the sort of all of them per group that
    percentile_cont needed."""
    params = {"as_of": inputs.as_of, "no_team": inputs.config.teams.no_team, "family": family}
    changed = "" if full else " AND h.task_id = ANY(ARRAY(SELECT task_id FROM rep_changed_ids))"
    conn.execute(sa.text(_STAY_DAYS.format(changed=changed)), params)
    if full:
        conn.execute(sa.text("DELETE FROM report_aging_stay_days"))
        conn.execute(
            sa.text(
                "INSERT INTO report_aging_stay_days (team, status, days, stays) "
                "SELECT team, status, days, sum(stays) FROM rep_stay_days GROUP BY 1, 2, 3"
            )
        )
    else:
        conn.execute(sa.text(_DELTA), params)
        conn.execute(sa.text("DELETE FROM report_aging_stay_days WHERE stays = 0"))
    conn.execute(sa.text(_P85))
    rows = conn.execute(sa.text("SELECT team, status, p85 FROM rep_p85"))
    return {(r.team, r.status): float(r.p85) for r in rows}


def store_stay_states(conn: Connection) -> None:
    """Each recomputed task's closed stays (rep_stay_days) into its state "s" (after the
    rows of the pass are in rep_task_state). Decision: a new table replaces
    rep_task_state (`_STATES`), not an INSERT ... ON CONFLICT DO UPDATE into it, which
    rewrote every row: 5.2 s of a full build at 50k tasks (load 4), the join 0.3 s."""
    for statement in _STATES.split(";"):
        conn.execute(sa.text(statement))


def refresh_p85(conn: Connection) -> int:
    """Set team_status_p85 and over_p85 of every stored aging row from rep_p85 (the
    rows of unchanged tasks keep their ages; only their team's p85 moved)."""
    return conn.execute(
        sa.text(
            "UPDATE report_aging_wip a SET team_status_p85 = n.p85, "
            "over_p85 = a.age_in_status > n.p85 "
            "FROM (SELECT w.task_key, p.p85 FROM report_aging_wip w LEFT JOIN rep_p85 p "
            "      ON p.team = w.team AND p.status = w.current_status) n "
            "WHERE n.task_key = a.task_key AND a.team_status_p85 IS DISTINCT FROM n.p85"
        )
    ).rowcount


def stored_result(conn: Connection) -> ReportResult:
    """The result of the stored table (an incremental build saw only the changed rows)."""
    result = ReportResult(
        TABLE.name, rows=conn.scalar(sa.select(sa.func.count()).select_from(TABLE))
    )
    preview = conn.execute(
        sa.text(
            "SELECT task_key, team, current_status, age_in_status, team_status_p85 "
            f"FROM {TABLE.name} ORDER BY age_in_status DESC, task_key LIMIT {PREVIEW_ROWS}"
        )
    )
    result.preview = [dict(r) for r in preview.mappings()]
    over = conn.scalar(sa.text(f"SELECT count(*) FILTER (WHERE over_p85) FROM {TABLE.name}"))
    result.thresholds = {"age in status > team p85": over}
    return result


class AgingCollector:
    """Writes report_aging_wip rows as tasks stream by."""

    def __init__(
        self,
        conn: Connection,
        inputs: ReportInputs,
        p85: dict[tuple[str, str], float],
        *,
        replace: bool = True,
    ) -> None:
        """`replace`: the table is replaced (a full build); else rows are appended."""
        self.inputs = inputs
        self.p85 = p85
        self.writer = TableWriter(conn, TABLE, COLUMNS, replace=replace)
        self.oldest = TopN(PREVIEW_ROWS, key=lambda r: r["age_in_status"])
        self.over = 0

    def add(self, view: TaskView) -> None:
        m = view.metrics
        if m.finished or m.cancelled or not view.clipped:
            return
        current = view.clipped[-1]
        block = self.inputs.config.block(current.status)
        if block not in OPEN_BLOCKS:
            return
        as_of = self.inputs.as_of
        p85 = self.p85.get((view.team, current.status))
        age = floor_days(current.start, as_of)
        over = None if p85 is None else age > p85
        row = {
            "task_key": view.task.key,
            "summary": view.task.summary,
            "author": view.task.author,
            "team": view.team,
            "current_status": current.status,
            "status_block": block,
            "in_status_since": current.start,
            "age_in_status": age,
            "work_started": m.work_started,
            "age_since_work_started": (
                None if m.work_started is None else floor_days(m.work_started, as_of)
            ),
            "age_since_created": floor_days(view.task.created, as_of),
            "team_status_p85": p85,
            "over_p85": over,
        }
        self.writer.write_dict(row)
        self.over += bool(over)
        self.oldest.add(
            {
                k: row[k]
                for k in ("task_key", "team", "current_status", "age_in_status", "team_status_p85")
            }
        )

    def close(self) -> ReportResult:
        result = ReportResult(TABLE.name, rows=self.writer.close())
        result.preview = self.oldest.items()
        result.thresholds = {"age in status > team p85": self.over}
        return result
