"""Testing returns: per implementation task and epic (report_testing_returns), and the
sums over linked implementation tasks that report_ttm_details shows per product task.

Returns are counted on the raw (unfiltered) history clipped to as_of, by the
engine (`testing_returns`, `testing_returns_for`): entries into a status minus 1;
the linked tasks' returns behind report_ttm_details are the same count in SQL
(`_TASK_RETURNS`; the details tests compare them with the engine task by task).

Which implementation tasks count for a product task is decided in SQL, set-based:
tasks linked to it with `relates` (either direction, the link stored on either
side; the object matched by Tracker id, else by key or an earlier key) that are
in the implementation queue, plus their sub-tasks (`parent_key`, also matched
through earlier keys) down to depth 6, each pair once. This is
`linked_implementation_tasks` of the engine, as a recursive query.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.metrics.engine import testing_returns
from radiator_assets.reports.changes import config_hash
from radiator_assets.reports.common import ReportInputs, ReportResult, TopN
from radiator_assets.reports.loading import (
    DEFAULT_BATCH_SIZE,
    queue_params,
    task_filter,
    tune_for_reports,
)
from radiator_assets.reports.refreshing import (
    CHANGED_TASKS,
    Family,
    build_family,
    fresh_temp_table,
    key_restriction,
    stage_changed_keys,
)
from radiator_assets.reports.writing import TableWriter, copy_rows, lock_reports
from radiator_assets.storage.report_models import ReportTestingReturns

SUBTASK_DEPTH = 6
PREVIEW_ROWS = 10
RELATES = "relates"

_KEYS = """
CREATE TEMP TABLE rep_keys ON COMMIT DROP AS
SELECT id, key FROM tracker_tasks WHERE deleted_at IS NULL AND out_of_query_since IS NULL
UNION
SELECT t.id, a.alias
FROM tracker_tasks t CROSS JOIN LATERAL jsonb_array_elements_text(
    CASE WHEN jsonb_typeof(t.aliases) = 'array' THEN t.aliases ELSE '[]'::jsonb END) AS a(alias)
WHERE t.deleted_at IS NULL AND t.out_of_query_since IS NULL;
CREATE INDEX ON rep_keys (key);
ANALYZE rep_keys;
"""

_PAIRS = """
CREATE TEMP TABLE rep_return_pairs ON COMMIT DROP AS
WITH RECURSIVE raw_links AS (
    SELECT t.id AS src, l -> 'object' ->> 'id' AS obj_id, l -> 'object' ->> 'key' AS obj_key
    FROM tracker_tasks t
    CROSS JOIN LATERAL jsonb_array_elements(t.links) AS l
    WHERE t.deleted_at IS NULL AND t.out_of_query_since IS NULL
      AND jsonb_typeof(t.links) = 'array' AND t.links <> '[]'::jsonb
      AND lower(l -> 'type' ->> 'id') = :relates
),
resolved AS (
    SELECT r.src, COALESCE(
        (SELECT o.id FROM tracker_tasks o
         WHERE o.tracker_id = r.obj_id
           AND o.deleted_at IS NULL AND o.out_of_query_since IS NULL LIMIT 1),
        (SELECT k.id FROM rep_keys k WHERE k.key = r.obj_key ORDER BY k.id DESC LIMIT 1)
    ) AS dst
    FROM raw_links r
),
edges AS (
    SELECT src AS a, dst AS b FROM resolved WHERE dst IS NOT NULL
    UNION
    SELECT dst, src FROM resolved WHERE dst IS NOT NULL
),
direct AS (
    SELECT DISTINCT p.id AS product_id, i.id AS task_id
    FROM edges e
    JOIN tracker_tasks p ON p.id = e.a
    JOIN tracker_tasks i ON i.id = e.b
    WHERE lower(p.queue) = :product AND lower(i.queue) = :implementation
      AND p.deleted_at IS NULL AND p.out_of_query_since IS NULL
      AND i.deleted_at IS NULL AND i.out_of_query_since IS NULL AND p.id <> i.id
),
tree(product_id, task_id, depth) AS (
    SELECT product_id, task_id, 0 FROM direct
    UNION
    SELECT tr.product_id, c.id, tr.depth + 1
    FROM tree tr
    JOIN rep_keys pk ON pk.id = tr.task_id
    JOIN tracker_tasks c ON c.parent_key = pk.key
     AND c.deleted_at IS NULL AND c.out_of_query_since IS NULL
    WHERE tr.depth < :depth
)
SELECT DISTINCT product_id, task_id FROM tree WHERE task_id <> product_id;
CREATE INDEX ON rep_return_pairs (task_id);
CREATE INDEX ON rep_return_pairs (product_id);
ANALYZE rep_return_pairs;
"""


def run_script(conn: Connection, script: str, params: dict[str, object]) -> None:
    """Run each `;`-separated statement of `script` (no `;` inside them) with `params`."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(sa.text(statement), params)


#: report_build_tasks' family of the linked tasks' stored returns (`prepare_linked_returns`)
LINKED_FAMILY = "product:linked"

# The linked tasks whose returns count: the tasks `stream_tasks` would read (visible,
# one row per key) among the pairs' tasks, with their fingerprint (`changes.py`: xmin).
_LINKED_LIVE = f"""
CREATE TEMP TABLE rep_linked_live ON COMMIT DROP AS
SELECT DISTINCT ON (key) id AS task_id, key AS task_key, xmin::text AS fingerprint
FROM tracker_tasks
WHERE {task_filter(None)} AND id IN (SELECT task_id FROM rep_return_pairs)
ORDER BY key, task_updated_at DESC NULLS LAST, id DESC
"""

# The linked tasks whose returns must be counted again: no stored count of this family,
# another fingerprint, or a stay starting in [previous as_of, as_of] (the count clips
# the history at as_of). `{since}` is TRUE for a full count.
_LINKED_TODO = f"""
CREATE TEMP TABLE rep_linked_todo ON COMMIT DROP AS
SELECT l.task_id FROM rep_linked_live l
LEFT JOIN report_build_tasks b ON b.family = '{LINKED_FAMILY}' AND b.task_id = l.task_id
WHERE {{since}} OR b.task_id IS NULL OR b.fingerprint <> l.fingerprint
   OR l.task_id IN (SELECT task_id FROM tracker_task_history
                    WHERE start_date BETWEEN :previous AND :as_of)
"""

# Each linked task's returns into each testing-return role, as the engine's
# `testing_returns_for` counts them on the raw history clipped to as_of: entries into
# the role (a stay in it after a stay not in it, or the first stay) minus 1, at least 0.
# Only the tasks of rep_linked_todo; a task without stays up to as_of counts 0.
_TASK_RETURNS = """
CREATE TEMP TABLE rep_fresh_returns ON COMMIT DROP AS
WITH flags AS (
    SELECT h.task_id, r.role, h.start_date, h.id,
           EXISTS (SELECT 1 FROM rep_status_roles m
                   WHERE m.status = h.status AND m.role = r.role) AS in_role
    FROM tracker_task_history h
    JOIN rep_linked_todo l ON l.task_id = h.task_id
    CROSS JOIN generate_series(0, :roles - 1) AS r(role)
    WHERE h.start_date <= :as_of
),
entries AS (
    SELECT task_id, role,
           in_role AND NOT COALESCE(
               lag(in_role) OVER (PARTITION BY task_id, role ORDER BY start_date, id), false
           ) AS entry
    FROM flags
),
per_role AS (
    SELECT task_id, role, GREATEST(count(*) FILTER (WHERE entry) - 1, 0) AS returns
    FROM entries GROUP BY task_id, role
),
counted AS (
    SELECT task_id,
           COALESCE(sum(returns) FILTER (WHERE role = 0), 0)::int AS r_first,
           COALESCE(sum(returns) FILTER (WHERE role = 1), 0)::int AS r_second,
           sum(returns)::int AS r_total
    FROM per_role GROUP BY task_id
)
SELECT l.task_id, COALESCE(c.r_first, 0) AS r_first, COALESCE(c.r_second, 0) AS r_second,
       COALESCE(c.r_total, 0) AS r_total
FROM rep_linked_todo l LEFT JOIN counted c ON c.task_id = l.task_id
"""

# Every live linked task's returns: counted now, or stored by an earlier build.
_ALL_RETURNS = f"""
CREATE TEMP TABLE rep_task_returns ON COMMIT DROP AS
SELECT task_id, r_first, r_second, r_total FROM rep_fresh_returns
UNION ALL
SELECT b.task_id, (b.state ->> 0)::int, (b.state ->> 1)::int, (b.state ->> 2)::int
FROM report_build_tasks b
JOIN rep_linked_live l ON l.task_id = b.task_id
WHERE b.family = '{LINKED_FAMILY}' AND b.task_id NOT IN (SELECT task_id FROM rep_linked_todo)
"""

_STORE_RETURNS = f"""
DELETE FROM report_build_tasks WHERE family = '{LINKED_FAMILY}'
AND (task_id NOT IN (SELECT task_id FROM rep_linked_live)
     OR task_id IN (SELECT task_id FROM rep_linked_todo));
INSERT INTO report_build_tasks (family, task_id, task_key, fingerprint, state)
SELECT '{LINKED_FAMILY}', l.task_id, l.task_key, l.fingerprint,
       jsonb_build_array(r.r_first, r.r_second, r.r_total)
FROM rep_fresh_returns r JOIN rep_linked_live l ON l.task_id = r.task_id
"""


def stage_status_roles(conn: Connection, inputs: ReportInputs) -> None:
    """Temporary table rep_status_roles (status, role): which statuses of the histories
    of the linked tasks counted now (rep_linked_todo) are each testing-return role
    (index in the configuration), by the configuration's matching (key or name,
    case-insensitive)."""
    roles = inputs.config.roles.testing_returns
    statuses = conn.scalars(
        sa.text(
            "SELECT DISTINCT status FROM tracker_task_history "
            "WHERE task_id IN (SELECT task_id FROM rep_linked_todo)"
        )
    ).all()
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE rep_status_roles "
            "(status text, role int, PRIMARY KEY (status, role)) ON COMMIT DROP"
        )
    )
    rows = [
        (status, index)
        for status in statuses
        for index, role in enumerate(roles)
        if inputs.config.same_status(status, role)
    ]
    copy_rows(conn, sa.table("rep_status_roles"), ["status", "role"], rows)  # type: ignore[arg-type]


#: report_builds' and report_build_tasks' family of the stored pairs (`stage_pairs`)
PAIRS_FAMILY = "product:pairs"

# What the pairs are a function of: every visible task's id, Tracker id, key, aliases,
# queue, parent and links, as a count and a sum of 64-bit record hashes: order-free, one
# pass over the task rows (hash_record_extended: half the time of hashing the row's text).
_PAIR_INPUTS = """
SELECT count(*) || ':' || COALESCE(sum(hash_record_extended(
    ROW(id, tracker_id, key, aliases, queue, parent_key, links), 0)::numeric), 0)
FROM tracker_tasks WHERE deleted_at IS NULL AND out_of_query_since IS NULL
"""

_STORED_PAIRS = f"""
CREATE TEMP TABLE rep_return_pairs ON COMMIT DROP AS
SELECT p.product_id::bigint AS product_id, b.task_id
FROM report_build_tasks b CROSS JOIN LATERAL jsonb_array_elements_text(b.state) AS p(product_id)
WHERE b.family = '{PAIRS_FAMILY}';
CREATE INDEX ON rep_return_pairs (task_id);
CREATE INDEX ON rep_return_pairs (product_id);
ANALYZE rep_return_pairs;
"""

_STORE_PAIRS = f"""
DELETE FROM report_build_tasks WHERE family = '{PAIRS_FAMILY}';
INSERT INTO report_build_tasks (family, task_id, task_key, fingerprint, state)
SELECT '{PAIRS_FAMILY}', p.task_id, '', '', jsonb_agg(p.product_id ORDER BY p.product_id)
FROM rep_return_pairs p GROUP BY p.task_id;
INSERT INTO report_builds (family, as_of, config_hash, grain, built_at)
VALUES ('{PAIRS_FAMILY}', :as_of, :hash, :inputs, now())
ON CONFLICT (family) DO UPDATE SET as_of = excluded.as_of,
    config_hash = excluded.config_hash, grain = excluded.grain, built_at = excluded.built_at
"""


def stage_pairs(conn: Connection, inputs: ReportInputs, reuse: bool, store: bool) -> None:
    """Temporary table rep_return_pairs (product_id, task_id): every product task's
    linked implementation tasks (the module docstring's rule).

    Decision: the pairs are a function of the visible task rows' ids, keys, aliases,
    queues, parents and links only (not of history or as_of), so with `reuse` the
    stored pairs are taken when those inputs (`_PAIR_INPUTS`, a hash over the task
    rows: some 0.05 s at 70k tasks) and the configuration are the stored ones; a
    sync that changes none of them (status moves) skips the recursive query (0.35 s
    at 50k product tasks, more under load). With `store`, recomputed pairs and their
    inputs are stored for the next build (in the caller's transaction)."""
    config = inputs.config
    pair_inputs = conn.scalar(sa.text(_PAIR_INPUTS))
    digest = config_hash(inputs)
    if reuse:
        stored = conn.execute(
            sa.text("SELECT config_hash, grain FROM report_builds WHERE family = :family"),
            {"family": PAIRS_FAMILY},
        ).one_or_none()
        if stored is not None and tuple(stored) == (digest, pair_inputs):
            run_script(conn, _STORED_PAIRS, {})
            return
    run_script(conn, _KEYS, {})
    run_script(
        conn,
        _PAIRS,
        {
            "relates": RELATES,
            "product": config.queues.product.strip().lower(),
            "implementation": config.queues.implementation.strip().lower(),
            "depth": SUBTASK_DEPTH,
        },
    )
    if store:
        params = {"as_of": inputs.as_of, "hash": digest, "inputs": pair_inputs}
        run_script(conn, _STORE_PAIRS, params)


def count_linked_returns(
    conn: Connection, inputs: ReportInputs, since: datetime | None, store: bool
) -> None:
    """Temporary table rep_task_returns (task_id, r_first, r_second, r_total): each
    live linked task's returns.

    Decision: with `since` (the previous build's as_of, whose stored counts of
    LINKED_FAMILY are in report_build_tasks), only the linked tasks whose count may
    differ are counted again (`_LINKED_TODO`: the window over their history is the
    costly part, 0.65 s for every linked task at 50k product tasks); the rest reuse
    the stored count. None counts every one. With `store`, the counts are stored for
    the next build (in the caller's transaction: they describe its snapshot and as_of)."""
    conn.execute(sa.text(_LINKED_LIVE), {"as_of": inputs.as_of})
    conn.execute(sa.text("ALTER TABLE rep_linked_live ADD PRIMARY KEY (task_id)"))
    window = {"as_of": inputs.as_of, "previous": since or inputs.as_of}
    todo = _LINKED_TODO.format(since="TRUE" if since is None else "FALSE")
    conn.execute(sa.text(todo), window)
    conn.execute(sa.text("ALTER TABLE rep_linked_todo ADD PRIMARY KEY (task_id)"))
    conn.execute(sa.text("ANALYZE rep_linked_live; ANALYZE rep_linked_todo"))
    stage_status_roles(conn, inputs)
    roles = len(inputs.config.roles.testing_returns)
    conn.execute(sa.text(_TASK_RETURNS), {"as_of": inputs.as_of, "roles": roles})
    conn.execute(sa.text(_ALL_RETURNS))
    if store:
        run_script(conn, _STORE_RETURNS, {})


def prepare_linked_returns(
    conn: Connection,
    inputs: ReportInputs,
    *,
    since: datetime | None = None,
    store: bool = False,
) -> str:
    """Create temporary tables (dropped at the end of `conn`'s transaction) giving each
    product task the sum of its linked implementation tasks' testing returns.

    Set-based: the pairs, each linked task's returns (`count_linked_returns`: a window
    over its history, or the stored count from the build of `since`) and their sums
    are a few statements; Python only matches the few distinct statuses against the
    configured roles. Returns the name of the temporary table `(product_id PRIMARY
    KEY, returns_testing, returns_external_test, returns_total)` to join on."""
    stage_pairs(conn, inputs, since is not None, store)
    count_linked_returns(conn, inputs, since, store)
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE rep_product_returns ON COMMIT DROP AS "
            "SELECT p.product_id, sum(r.r_first)::int AS returns_testing, "
            "sum(r.r_second)::int AS returns_external_test, sum(r.r_total)::int AS returns_total "
            "FROM rep_return_pairs p JOIN rep_task_returns r ON r.task_id = p.task_id "
            "GROUP BY p.product_id"
        )
    )
    conn.execute(sa.text("ALTER TABLE rep_product_returns ADD PRIMARY KEY (product_id)"))
    conn.execute(sa.text("ANALYZE rep_product_returns"))
    return "rep_product_returns"


# --------------------------------------------------------------------------- report_testing_returns

#: the report's "returns into" columns, in workflow order (the first that matches a status wins)
WORKFLOW_COLUMNS: tuple[str, ...] = (
    "returns_in_progress",
    "returns_review",
    "returns_testing",
    "returns_external_test",
    "returns_approval",
    "returns_regression",
    "returns_done",
)


def workflow_columns(inputs: ReportInputs) -> dict[str, tuple[str, ...]]:
    """Report column -> the statuses (names or keys) it counts, from the configuration:
    `return_statuses`, and the testing-return roles for the Testing and external-test
    columns (the predecessor's "Testing" and "Внешний тест")."""
    config = inputs.config
    chosen = config.return_statuses
    roles = config.roles.testing_returns
    return {
        "returns_in_progress": chosen.in_progress,
        "returns_review": chosen.review,
        "returns_testing": roles[:1],
        "returns_external_test": roles[1:2],
        "returns_approval": chosen.approval,
        "returns_regression": chosen.regression,
        "returns_done": chosen.done,
    }


def column_of(status: str, columns: dict[str, tuple[str, ...]], inputs: ReportInputs) -> str | None:
    config = inputs.config
    for column, candidates in columns.items():
        if any(config.same_status(status, c) for c in candidates):
            return column
    return None


class StatusColumns:
    """status -> its report column (or None), remembered for one build: a build asks
    about the same few statuses for every task, and matching one costs a loop over
    the columns and their candidate names."""

    def __init__(self, inputs: ReportInputs) -> None:
        self.inputs = inputs
        self.columns = workflow_columns(inputs)
        self.known: dict[str, str | None] = {}

    def __call__(self, status: str) -> str | None:
        try:
            return self.known[status]
        except KeyError:
            column = self.known[status] = column_of(status, self.columns, self.inputs)
            return column


def task_workflow_returns(
    stays: Sequence, inputs: ReportInputs, columns: StatusColumns | None = None
) -> dict[str, int]:
    """Returns per report column for one task (raw history clipped to as_of); pass the
    build's `columns` to share its look-ups."""
    column_of_status = columns or StatusColumns(inputs)
    out = dict.fromkeys(WORKFLOW_COLUMNS, 0)
    for status, count in testing_returns(stays, inputs.as_of).items():
        if count:
            column = column_of_status(status)
            if column is not None:
                out[column] += count
    return out


# Per implementation task (as `stream_tasks` reads them): its current status and the
# statuses it returned to, with how many times (`testing_returns`: entries minus 1, on
# the raw history clipped to as_of), in one window pass over the history. `{where}`
# selects the tasks (a refresh adds its keys).
_TASK_STATUS_RETURNS = """
WITH live AS (
    SELECT DISTINCT ON (key) id, key, summary, epic_key
    FROM tracker_tasks
    WHERE {where}
    ORDER BY key, task_updated_at DESC NULLS LAST, id DESC
),
marked AS (
    SELECT h.task_id, h.status,
           h.status IS DISTINCT FROM lag(h.status) OVER w AS entry,
           lead(h.id) OVER w IS NULL AS is_last
    FROM tracker_task_history h
    JOIN live l ON l.id = h.task_id
    WHERE h.start_date <= :as_of
    WINDOW w AS (PARTITION BY h.task_id ORDER BY h.start_date, h.id)
),
per_status AS (
    SELECT task_id, status, GREATEST(count(*) FILTER (WHERE entry) - 1, 0) AS returns,
           bool_or(is_last) AS is_current
    FROM marked
    GROUP BY task_id, status
)
SELECT l.key, l.summary, l.epic_key,
       max(p.status) FILTER (WHERE p.is_current) AS current_status,
       array_agg(p.status) FILTER (WHERE p.returns > 0) AS statuses,
       array_agg(p.returns) FILTER (WHERE p.returns > 0) AS returns
FROM per_status p
JOIN live l ON l.id = p.task_id
GROUP BY l.id, l.key, l.summary, l.epic_key
ORDER BY l.key
"""

_RETURN_COLUMNS = ", ".join(WORKFLOW_COLUMNS)

# The epic rows, summed in SQL from the stored task rows of each epic (`{restrict}`
# narrows the epics); an epic's title is its task row's summary (a live row first,
# then the most recently updated).
_EPIC_ROWS = f"""
INSERT INTO report_testing_returns
    (scope, key, summary, epic_key, tasks, current_status, {_RETURN_COLUMNS}, returns_total)
SELECT 'epic', r.epic_key,
       (SELECT t.summary FROM tracker_tasks t WHERE t.key = r.epic_key
        ORDER BY t.deleted_at IS NULL AND t.out_of_query_since IS NULL DESC,
                 t.task_updated_at DESC NULLS LAST, t.id DESC LIMIT 1),
       r.epic_key, count(*), NULL,
       {", ".join(f"sum({c})" for c in WORKFLOW_COLUMNS)}, sum(r.returns_total)
FROM report_testing_returns r
WHERE r.scope = 'task' AND r.epic_key <> ''{{restrict}}
GROUP BY r.epic_key
"""

REFRESH_KEYS = "rep_returns_keys"
REFRESH_EPICS = "rep_returns_epics"


def task_rows(
    reader: Connection,
    inputs: ReportInputs,
    keys: str | None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[dict[str, Any]]:
    """The task rows (column -> value) of the implementation-queue tasks holding the
    `keys` (a temporary table; None: every task), streamed by key. The returns per
    task and status come from SQL; Python maps the few statuses with returns to
    their columns."""
    status_columns = StatusColumns(inputs)
    queues = [inputs.config.queues.implementation]
    tasks = reader.execute(
        sa.text(_TASK_STATUS_RETURNS.format(where=task_filter(queues) + key_restriction(keys))),
        {"as_of": inputs.as_of, **queue_params(queues)},
        execution_options={"stream_results": True, "yield_per": batch_size},
    )
    for task in tasks:
        counts = dict.fromkeys(WORKFLOW_COLUMNS, 0)
        for status, returns in zip(task.statuses or (), task.returns or (), strict=True):
            column = status_columns(status)
            if column is not None:
                counts[column] += returns
        yield {
            "scope": "task",
            "key": task.key,
            "summary": task.summary,
            "epic_key": task.epic_key,
            "tasks": 1,
            "current_status": task.current_status,
            **counts,
            "returns_total": sum(counts.values()),
        }


def write_epic_rows(conn: Connection, epics: str | None) -> int:
    """Insert the epic rows of the epics in the temporary table `epics` (None: every
    epic) from the stored task rows; their old rows must be gone."""
    restrict = key_restriction(epics, "r.epic_key")
    return conn.execute(sa.text(_EPIC_ROWS.format(restrict=restrict))).rowcount


def rebuild_testing_returns(
    conn: Connection, inputs: ReportInputs, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> ReportResult:
    """Replace report_testing_returns in the caller's transaction: one row per
    implementation-queue task (`task_rows`, streamed from the same connection), then
    one per epic, summed from them in SQL (`write_epic_rows`)."""
    table = ReportTestingReturns.__table__
    result = ReportResult(table.name)
    top = TopN(PREVIEW_ROWS, key=lambda row: row["returns_total"])
    writer = TableWriter(conn, table)
    for row in task_rows(conn, inputs, None, batch_size=batch_size):
        writer.write_dict(row)
        if row["returns_total"]:
            top.add(row)
    tasks = writer.close()
    epics = write_epic_rows(conn, None)
    result.rows = tasks + epics
    result.preview = [_preview(row) for row in top.items()]
    result.extra = {"epics": epics}
    return result


_STORED_PREVIEW = (
    f"SELECT key, returns_total, {_RETURN_COLUMNS} FROM report_testing_returns "
    "WHERE scope = 'task' AND returns_total > 0 ORDER BY returns_total DESC, key LIMIT :n"
)


def stored_summary(conn: Connection, result: ReportResult) -> None:
    """The table's row and epic counts and preview, after an incremental build."""
    counts = conn.execute(
        sa.text(
            "SELECT count(*), count(*) FILTER (WHERE scope = 'epic') FROM report_testing_returns"
        )
    ).one()
    result.rows = counts[0]
    result.extra["epics"] = counts[1]
    preview = conn.execute(sa.text(_STORED_PREVIEW), {"n": PREVIEW_ROWS})
    result.preview = [dict(r) for r in preview.mappings()]


def testing_returns_family(batch_size: int = DEFAULT_BATCH_SIZE) -> Family:
    """The incremental build of report_testing_returns. Queues: every queue, not only
    the implementation queue: an epic row's title is its epic's task row, in any
    queue, and a changed epic must reach `refresh_testing_returns` (which recomputes
    the changed keys' epic rows). No recompute instants: the rows count stays
    clipped to as_of and nothing else of as_of, so `plan_changes`' window rule
    (a start or creation that as_of passed) is all."""
    return Family(
        name="testing_returns",
        table=ReportTestingReturns.__table__.name,
        queues=None,
        grain="",
        build_full=lambda conn, inputs: rebuild_testing_returns(
            conn, inputs, batch_size=batch_size
        ),
        refresh=lambda conn, inputs, changed: refresh_testing_returns(conn, inputs, changed),
        stored=stored_summary,
    )


def build_testing_returns(
    engine: Engine,
    inputs: ReportInputs,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    full: bool = False,
) -> ReportResult:
    """Bring report_testing_returns up to date: incremental (the changed tasks' rows
    and their epics', `refresh_testing_returns`) unless `full` or the change detector
    decides a full build (`refreshing.build_family`)."""
    return build_family(engine, inputs, testing_returns_family(batch_size), full=full)


def _preview(row: dict[str, Any]) -> dict[str, Any]:
    return {"key": row["key"], "returns_total": row["returns_total"]} | {
        c: row[c] for c in WORKFLOW_COLUMNS
    }


def refresh_testing_returns(
    conn: Connection, inputs: ReportInputs, changed_table: str = CHANGED_TASKS
) -> ReportResult:
    """Recompute, in the caller's transaction, the rows the tasks in `changed_table`
    may change.

    Rule: task rows are per task, recomputed for every key of a changed task
    (current and earlier keys: `refreshing.stage_changed_keys`). Epic rows sum their
    tasks' rows, so the affected epics are the epics of those task rows before and
    after (a task that left an epic changes it too) and the changed keys themselves
    (an epic's title is its own task's summary); their rows are summed again from
    the stored task rows."""
    started = time.perf_counter()
    table = ReportTestingReturns.__table__
    tune_for_reports(conn)
    stage_changed_keys(conn, changed_table, REFRESH_KEYS)
    lock_reports(conn)
    tasks = key_restriction(REFRESH_KEYS)
    fresh_temp_table(conn, REFRESH_EPICS)
    conn.execute(
        sa.text(
            f"CREATE TEMP TABLE {REFRESH_EPICS} ON COMMIT DROP AS "
            f"SELECT key FROM {REFRESH_KEYS} UNION SELECT epic_key FROM report_testing_returns "
            f"WHERE scope = 'task' AND epic_key IS NOT NULL{tasks}"
        )
    )
    conn.execute(sa.text(f"ALTER TABLE {REFRESH_EPICS} ADD PRIMARY KEY (key)"))
    deleted = conn.execute(
        sa.text(f"DELETE FROM report_testing_returns WHERE scope = 'task'{tasks}")
    ).rowcount
    rows = list(task_rows(conn, inputs, REFRESH_KEYS))
    copy_rows(conn, table, [c.name for c in table.columns], [_values(table, r) for r in rows])
    conn.execute(
        sa.text(
            f"INSERT INTO {REFRESH_EPICS} SELECT DISTINCT epic_key FROM report_testing_returns "
            f"WHERE scope = 'task' AND epic_key IS NOT NULL{tasks} ON CONFLICT DO NOTHING"
        )
    )
    epics = key_restriction(REFRESH_EPICS)
    deleted += conn.execute(
        sa.text(f"DELETE FROM report_testing_returns WHERE scope = 'epic'{epics}")
    ).rowcount
    written = write_epic_rows(conn, REFRESH_EPICS)
    result = ReportResult(table.name, rows=len(rows) + written)
    result.preview = [_preview(r) for r in sorted(rows, key=lambda r: -r["returns_total"])[:10]]
    result.extra = {"epics": written, "deleted": deleted}
    result.seconds["refresh"] = time.perf_counter() - started
    return result


def _values(table: sa.Table, row: dict[str, Any]) -> list[Any]:
    return [row.get(c.name) for c in table.columns]
