"""report_subepic_returns: testing returns per implementation task, with its epic's team,
month and quarter (the predecessor's FULLSTACK sub-epic returns report).

Rows: every visible implementation-queue task created on or after
`subepic_returns.start_date` (00:00 UTC) of the metrics configuration, and by
`as_of`. Returns per workflow status are counted as report_testing_returns
counts them (`returns.task_workflow_returns`: raw history clipped to as_of).

Everything else is decided in one SQL statement (a temporary table), by the
predecessor's rules:

* epic: the task's `epic` field, else its outward `epic` link. The epic's row is
  found by key, else by an earlier key (a moved epic: the row's current key is
  reported); its title is that row's summary, else the link's display.
* team, for a task in an epic: the epic's team field, else the team field of the
  first of the epic's rows having one, else the epic's product-team field, else
  the first such row's. For a task without an epic: its own team field, else its
  own product-team field. Blank values count as missing; none found: empty.
  "First" is the earliest created (then the smallest key): the predecessor took
  whichever row its database returned first, an order it did not define.
* month (`YYYY-MM`, UTC): the earliest creation among the epic's rows (rows of
  this report: created since the start date); without an epic, the task's own.
* quarter: the epic's quarter field (`custom_fields.quarter`, matched like the
  other custom fields: the id itself or a queue-local `<hex>--id`); without an
  epic, the task's own.

The team and product-team fields are the warehouse's `team` and `prodteam`
columns, which the sync fills from `custom_fields.team` / `product_team`.

A table of its own, not a `scope` of report_testing_returns: its rows carry
author, team, epic title, month and quarter that the other table's rows do not
have, and it selects by creation date where the other lists every task.

`refresh_subepic_returns` recomputes the rows a set of changed tasks may change
(its docstring states the rule): a row depends on its task and on its epic (the
epic's row and every listed task of the epic), so the refresh reaches the whole
epic of a changed task, before and after the change.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.reports.common import ReportInputs, ReportResult, TopN, midnight
from radiator_assets.reports.loading import (
    DEFAULT_BATCH_SIZE,
    TaskHistory,
    stream_tasks,
    tune_for_reports,
)
from radiator_assets.reports.refreshing import (
    CHANGED_TASKS,
    Family,
    build_family,
    fresh_temp_table,
    stage_changed_keys,
)
from radiator_assets.reports.returns import (
    WORKFLOW_COLUMNS,
    StatusColumns,
    run_script,
    task_workflow_returns,
)
from radiator_assets.reports.writing import TableWriter, copy_rows, lock_reports
from radiator_assets.storage.report_models import ReportSubepicReturns

TABLE = ReportSubepicReturns.__table__
PREVIEW_ROWS = 10
EPIC_LINK = "epic"

#: a custom field's value as text, as the sync's `_display` reads it: an object's
#: display (or name, key, id), a scalar's text; blank is NULL. `{field}` is a jsonb value.
_CUSTOM_TEXT = """NULLIF(btrim(CASE jsonb_typeof({field})
    WHEN 'object' THEN COALESCE(NULLIF({field} ->> 'display', ''), NULLIF({field} ->> 'name', ''),
                                NULLIF({field} ->> 'key', ''), {field} ->> 'id')
    WHEN 'null' THEN NULL
    ELSE {field} #>> '{{}}' END), '')"""

_ATTRIBUTES = f"""
CREATE TEMP TABLE rep_subepic ON COMMIT DROP AS
WITH live AS (
    SELECT DISTINCT ON (key) id, key, aliases
    FROM tracker_tasks
    WHERE deleted_at IS NULL AND out_of_query_since IS NULL
      AND created_at IS NOT NULL AND created_at <= :as_of
    ORDER BY key, task_updated_at DESC NULLS LAST, id DESC
),
listed AS (
    SELECT t.id, t.key, t.created_at,
           COALESCE(NULLIF(btrim(t.epic_key), ''), link.key) AS given_epic,
           link.key AS link_key, link.display AS link_display
    FROM live l
    JOIN tracker_tasks t ON t.id = l.id
    LEFT JOIN LATERAL (
        SELECT e -> 'object' ->> 'key' AS key, e -> 'object' ->> 'display' AS display
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.links) = 'array'
                                       THEN t.links ELSE '[]'::jsonb END)
             WITH ORDINALITY AS x(e, n)
        WHERE e -> 'type' ->> 'id' = :epic_link AND e ->> 'direction' = 'outward'
          AND NULLIF(e -> 'object' ->> 'key', '') IS NOT NULL
        ORDER BY n LIMIT 1
    ) link ON true
    WHERE lower(t.queue) = :implementation AND t.created_at >= :start
),
epic_rows AS (
    SELECT DISTINCT ON (k.lookup) k.lookup, k.id, k.key
    FROM (
        SELECT l.key AS lookup, 0 AS rank, l.id, l.key FROM live l
        WHERE l.key IN (SELECT given_epic FROM listed)
        UNION ALL
        SELECT a.alias, 1, l.id, l.key
        FROM live l CROSS JOIN LATERAL jsonb_array_elements_text(
            CASE WHEN jsonb_typeof(l.aliases) = 'array' THEN l.aliases ELSE '[]'::jsonb END
        ) AS a(alias)
        WHERE a.alias IN (SELECT given_epic FROM listed)
    ) k
    ORDER BY k.lookup, k.rank, k.id DESC
),
placed AS (
    SELECT l.*, COALESCE(er.key, l.given_epic) AS epic_key, er.id AS epic_id
    FROM listed l LEFT JOIN epic_rows er ON er.lookup = l.given_epic
),
facts AS (
    SELECT t.id, t.summary,
           NULLIF(btrim(t.team), '') AS team, NULLIF(btrim(t.prodteam), '') AS prodteam,
           (SELECT {_CUSTOM_TEXT.format(field="f.value")}
            FROM jsonb_each(CASE WHEN jsonb_typeof(t.full_data) = 'object'
                                 THEN t.full_data ELSE '{{}}'::jsonb END) AS f
            WHERE f.key = :quarter_field
               OR right(f.key, length(:quarter_field) + 2) = '--' || :quarter_field
            ORDER BY f.key = :quarter_field DESC, f.key LIMIT 1) AS quarter
    FROM tracker_tasks t
    WHERE t.id IN (SELECT id FROM listed UNION SELECT id FROM epic_rows)
),
per_epic AS (
    SELECT p.epic_key, min(p.created_at) AS first_created,
           (array_agg(f.team ORDER BY p.created_at, p.key)
                FILTER (WHERE f.team IS NOT NULL))[1] AS team,
           (array_agg(f.prodteam ORDER BY p.created_at, p.key)
                FILTER (WHERE f.prodteam IS NOT NULL))[1] AS prodteam
    FROM placed p JOIN facts f ON f.id = p.id
    WHERE p.epic_key IS NOT NULL
    GROUP BY p.epic_key
)
SELECT p.id AS task_id, p.epic_key,
       COALESCE(e.summary, CASE WHEN p.link_key = p.given_epic THEN p.link_display END)
           AS epic_summary,
       CASE WHEN p.epic_key IS NULL THEN COALESCE(own.team, own.prodteam)
            ELSE COALESCE(e.team, s.team, e.prodteam, s.prodteam) END AS team,
       to_char(timezone('UTC', CASE WHEN p.epic_key IS NULL THEN p.created_at
                                    ELSE s.first_created END), 'YYYY-MM') AS epic_month,
       CASE WHEN p.epic_key IS NULL THEN own.quarter ELSE e.quarter END AS epic_quarter
FROM placed p
JOIN facts own ON own.id = p.id
LEFT JOIN per_epic s ON s.epic_key = p.epic_key
LEFT JOIN facts e ON e.id = p.epic_id;
ALTER TABLE rep_subepic ADD PRIMARY KEY (task_id);
ANALYZE rep_subepic
"""

#: the temporary table's columns, as they arrive in `TaskHistory.extra`
_EXTRA = ("epic_key", "epic_summary", "team", "epic_month", "epic_quarter")


def start_of(inputs: ReportInputs) -> datetime:
    """The first instant of the report's rows: 00:00 UTC of the configured start date."""
    return midnight(inputs.config.subepic_returns.start_date)


def prepare_attributes(conn: Connection, inputs: ReportInputs) -> None:
    """Create `rep_subepic` (dropped with `conn`'s transaction): per listed task, its
    epic, epic title, team, month and quarter."""
    config = inputs.config
    params = {
        "as_of": inputs.as_of,
        "start": start_of(inputs),
        "implementation": config.queues.implementation.strip().lower(),
        "quarter_field": config.custom_fields.quarter,
        "epic_link": EPIC_LINK,
    }
    fresh_temp_table(conn, "rep_subepic")
    run_script(conn, _ATTRIBUTES, params)


def task_row(task: TaskHistory, inputs: ReportInputs, columns: StatusColumns) -> dict[str, Any]:
    """The report row of one listed task (its `extra` holds the `_EXTRA` values)."""
    counts = task_workflow_returns(task.stays, inputs, columns)
    return {
        "task_key": task.key,
        "summary": task.summary,
        "author": task.author,
        **dict(zip(_EXTRA, task.extra, strict=True)),
        "created": task.created,
        "current_status": task.stays[-1].status,
        **counts,
        "returns_total": sum(counts.values()),
    }


def listed_rows(
    reader: Connection, inputs: ReportInputs, batch_size: int
) -> Iterator[dict[str, Any]]:
    """The rows of the tasks in `rep_subepic`, streamed."""
    columns = StatusColumns(inputs)
    for batch in stream_tasks(
        reader,
        as_of=inputs.as_of,
        batch_size=batch_size,
        extra_columns="".join(f", a.{column}" for column in _EXTRA),
        extra_joins=" JOIN rep_subepic a ON a.task_id = t.id",
        extra_where=" AND id IN (SELECT task_id FROM rep_subepic)",
    ):
        for task in batch:
            yield task_row(task, inputs, columns)


class Summary:
    """What a build's result shows of its rows: the top rows and the epics seen."""

    PREVIEW_COLUMNS = ("task_key", "team", "epic_key", "epic_month", "returns_total")

    def __init__(self) -> None:
        self.top = TopN(PREVIEW_ROWS, key=lambda row: row["returns_total"])
        self.epics: set[str] = set()

    def add(self, row: dict[str, Any]) -> None:
        if row["epic_key"]:
            self.epics.add(row["epic_key"])
        if row["returns_total"]:
            self.top.add({c: row[c] for c in (*self.PREVIEW_COLUMNS, *WORKFLOW_COLUMNS)})


def rebuild_subepic_returns(
    conn: Connection, inputs: ReportInputs, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> ReportResult:
    """Replace report_subepic_returns in the caller's transaction (see the module
    docstring)."""
    result = ReportResult(TABLE.name)
    summary = Summary()
    prepare_attributes(conn, inputs)
    writer = TableWriter(conn, TABLE)
    for row in listed_rows(conn, inputs, batch_size):
        writer.write_dict(row)
        summary.add(row)
    result.rows = writer.close()
    result.preview = summary.top.items()
    result.extra = {"epics": len(summary.epics)}
    return result


_STORED_PREVIEW = (
    f"SELECT {', '.join((*Summary.PREVIEW_COLUMNS, *WORKFLOW_COLUMNS))} "
    "FROM report_subepic_returns WHERE returns_total > 0 "
    "ORDER BY returns_total DESC, task_key LIMIT :n"
)


def stored_summary(conn: Connection, result: ReportResult) -> None:
    """The table's row and epic counts and preview, after an incremental build."""
    counts = conn.execute(
        sa.text("SELECT count(*), count(DISTINCT NULLIF(epic_key, '')) FROM report_subepic_returns")
    ).one()
    result.rows = counts[0]
    result.extra["epics"] = counts[1]
    preview = conn.execute(sa.text(_STORED_PREVIEW), {"n": PREVIEW_ROWS})
    result.preview = [dict(r) for r in preview.mappings()]


def subepic_returns_family(inputs: ReportInputs, batch_size: int = DEFAULT_BATCH_SIZE) -> Family:
    """The incremental build of report_subepic_returns.

    Queues: every queue: a row depends on its epic's task row (title, team, product
    team, quarter, creation), in any queue, and a changed epic must reach
    `refresh_subepic_returns` (which recomputes every listed task of the changed keys'
    epics). Grain: the start date (rows listed from it on). No recompute instants: as_of
    bounds the rows (tasks and epic rows created by it), the epics' month (the earliest
    listed creation) and the returns (stays started by it): all instants that
    `plan_changes`' window rule sees as_of pass; nothing counts time up to as_of."""
    return Family(
        name="subepic_returns",
        table=TABLE.name,
        queues=None,
        grain=f"start {start_of(inputs).date().isoformat()}",
        build_full=lambda conn, inputs: rebuild_subepic_returns(
            conn, inputs, batch_size=batch_size
        ),
        refresh=lambda conn, inputs, changed: refresh_subepic_returns(
            conn, inputs, changed, batch_size=batch_size
        ),
        stored=stored_summary,
    )


def build_subepic_returns(
    engine: Engine,
    inputs: ReportInputs,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    full: bool = False,
) -> ReportResult:
    """Bring report_subepic_returns up to date: incremental (the changed tasks and
    their epics, `refresh_subepic_returns`) unless `full` or the change detector
    decides a full build (`refreshing.build_family`)."""
    family = subepic_returns_family(inputs, batch_size)
    result = build_family(engine, inputs, family, full=full)
    result.extra["start_date"] = start_of(inputs).date().isoformat()
    return result


REFRESH_KEYS = "rep_subepic_keys"

# After `prepare_attributes` (every listed task, with its epic now) and the changed
# keys: the tasks and epics to recompute. A task counts as changed when its key is a
# changed key or its epic differs from its stored row's (it joined, left or changed
# epic, e.g. because an epic row appeared under its epic key); the affected epics
# are the changed keys (an epic's own row) and the epics, before and after, of the
# changed tasks. `rep_subepic` is then narrowed to the tasks to recompute.
_AFFECTED = f"""
CREATE TEMP TABLE rep_subepic_pairs ON COMMIT DROP AS
SELECT COALESCE(n.key, o.task_key) AS key, o.epic_key AS old_epic, n.epic_key AS new_epic
FROM (SELECT t.key, s.epic_key FROM rep_subepic s JOIN tracker_tasks t ON t.id = s.task_id) n
FULL JOIN report_subepic_returns o ON o.task_key = n.key;
CREATE TEMP TABLE rep_subepic_tasks ON COMMIT DROP AS
SELECT key FROM {REFRESH_KEYS}
UNION SELECT key FROM rep_subepic_pairs WHERE old_epic IS DISTINCT FROM new_epic;
CREATE TEMP TABLE rep_subepic_epics ON COMMIT DROP AS
SELECT key FROM {REFRESH_KEYS}
UNION SELECT unnest(ARRAY[old_epic, new_epic]) FROM rep_subepic_pairs
WHERE key IN (SELECT key FROM rep_subepic_tasks);
DELETE FROM rep_subepic s USING tracker_tasks t
WHERE t.id = s.task_id
  AND NOT EXISTS (SELECT 1 FROM rep_subepic_tasks c WHERE c.key = t.key)
  AND NOT EXISTS (SELECT 1 FROM rep_subepic_epics e WHERE e.key = s.epic_key)
"""
_REFRESH_TABLES = ("rep_subepic_pairs", "rep_subepic_tasks", "rep_subepic_epics")


def refresh_subepic_returns(
    conn: Connection,
    inputs: ReportInputs,
    changed_table: str = CHANGED_TASKS,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ReportResult:
    """Recompute, in the caller's transaction, the rows the tasks in `changed_table`
    may change.

    Rule: a row depends on its task and its epic (the epic's task row, and the team,
    product team and creation of every listed task of the epic). So the rows
    recomputed are those of the changed tasks (every key they have or had), of the
    tasks whose epic differs from their stored row's, and of every task of an
    affected epic: the epics, before and after, of those tasks, and the changed keys
    themselves (an epic whose own task changed). The stored rows of the same tasks
    and epics are deleted first. The epics' attributes are computed for every listed
    task as in the full build (`prepare_attributes`), the histories read for the
    recomputed tasks only."""
    started = time.perf_counter()
    tune_for_reports(conn)
    stage_changed_keys(conn, changed_table, REFRESH_KEYS)
    prepare_attributes(conn, inputs)
    lock_reports(conn)
    for name in _REFRESH_TABLES:
        fresh_temp_table(conn, name)
    run_script(conn, _AFFECTED, {})
    deleted = conn.execute(
        sa.text(
            "DELETE FROM report_subepic_returns "
            "WHERE task_key = ANY(ARRAY(SELECT key FROM rep_subepic_tasks)) "
            "OR epic_key = ANY(ARRAY(SELECT key FROM rep_subepic_epics))"
        )
    ).rowcount
    rows = list(listed_rows(conn, inputs, batch_size))
    columns = [c.name for c in TABLE.columns]
    copy_rows(conn, TABLE, columns, [[row[c] for c in columns] for row in rows])
    summary = Summary()
    for row in rows:
        summary.add(row)
    result = ReportResult(TABLE.name, rows=len(rows), preview=summary.top.items())
    result.extra = {"epics": len(summary.epics), "deleted": deleted}
    result.seconds["refresh"] = time.perf_counter() - started
    return result
