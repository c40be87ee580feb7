"""One pass over the product queue builds four reports.

report_ttm_details, report_ttm_summary, report_flow_weekly and report_aging_wip
all need the engine's metrics of every product task; computing them once and
feeding four collectors makes the pass (the expensive part: about a quarter of
a millisecond per task) happen once. All four tables are written in one
transaction, so they always describe the same as_of and the same data, and
the same transaction replaces the snapshot of that as_of (`history.py`).

Builds are incremental (`changes.py`): only the tasks that changed, or whose
as_of-dependent values moved (`anchors.py`), go through the engine; their rows
of report_ttm_details and report_aging_wip are replaced, report_flow_weekly and
the stay histogram behind the aging p85 move by the tasks' stored contributions,
the summary and the snapshot are rebuilt in SQL from the stored rows. The linked
returns behind the details rows are incremental as well (`returns.prepare_linked_returns`:
stored pairs while no task row's links, keys, parents or queues changed, stored counts
of the linked tasks that did not change); a product task whose sum moved is recomputed
(`RETURNS_CHANGED`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.reports import aging, details
from radiator_assets.reports.aging import AgingCollector, create_author_teams, update_stay_days
from radiator_assets.reports.anchors import recompute_at
from radiator_assets.reports.changes import (
    CHANGED_KEYS_WHERE,
    ChangeSet,
    begin_task_state,
    build_transaction,
    full_reason,
    plan_changes,
    previous_build,
    record_build,
    stored_states,
    write_task_states,
)
from radiator_assets.reports.common import ReportInputs, ReportResult, collector_paused, monday_of
from radiator_assets.reports.details import DetailsCollector
from radiator_assets.reports.flow import FlowCollector
from radiator_assets.reports.history import shadow_tables, write_snapshot
from radiator_assets.reports.loading import DEFAULT_BATCH_SIZE, first_created, stream_tasks
from radiator_assets.reports.returns import prepare_linked_returns
from radiator_assets.reports.summary import build_summary
from radiator_assets.reports.task_view import view_of

FAMILY = "product"
DETAILS = "report_ttm_details"
SUMMARY = "report_ttm_summary"
FLOW = "report_flow_weekly"
AGING = "report_aging_wip"
PRODUCT_REPORTS = (DETAILS, SUMMARY, FLOW, AGING)
STAY_DAYS = "report_aging_stay_days"
JUST_BEFORE = timedelta(microseconds=1)

#: product keys whose details row shows other linked returns than the linked tasks have now
RETURNS_CHANGED = """
SELECT d.task_key FROM report_ttm_details d
JOIN rep_fp f ON f.task_key = d.task_key
LEFT JOIN rep_product_returns r ON r.product_id = f.task_id
WHERE (COALESCE(r.returns_testing, 0), COALESCE(r.returns_external_test, 0),
       COALESCE(r.returns_total, 0))
      IS DISTINCT FROM (d.returns_testing, d.returns_external_test, d.returns_total)
"""


@dataclass
class _Pass:
    """The collectors of one pass and what it read."""

    details: DetailsCollector
    flow: FlowCollector
    aging: AgingCollector
    tasks: int = 0


def product_grain(inputs: ReportInputs, first: datetime | None) -> str:
    """The flow's weeks (first and last Monday): when they move, the build is full."""
    last = monday_of(inputs.as_of - JUST_BEFORE)
    return f"weeks {None if first is None else monday_of(first)}..{last}"


def build_product_reports(
    engine: Engine,
    inputs: ReportInputs,
    *,
    full: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    only_snapshot: bool = False,
) -> dict[str, ReportResult]:
    """Bring the four product-queue reports and the snapshot of their as_of up to date
    (tables only: their pictures are `radiator_assets.reports.drawing`'s).

    Incremental unless `full` (or `changes.plan_changes` decides a full build): only
    the changed tasks go through the engine, the aggregates move by their deltas;
    the tables equal a full build's. With `only_snapshot`, the reports are built
    (always in full) into temporary tables that shadow theirs
    (`history.shadow_tables`): only the snapshot is kept, the build state is not
    touched."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    with build_transaction(engine, FAMILY) as conn:
        if only_snapshot:
            shadow_tables(conn, (*PRODUCT_REPORTS, STAY_DAYS))
        change, grain, first = _plan(conn, inputs, full or only_snapshot, not only_snapshot)
        p85 = update_stay_days(conn, inputs, family=FAMILY, full=change.full)
        t1 = time.perf_counter()
        timings["prepare"] = t1 - t0
        collectors = _collectors(conn, inputs, change, first, p85)
        with collector_paused():
            _stream(conn, inputs, change, batch_size, collectors)
        t2 = time.perf_counter()
        timings["stream"] = t2 - t1
        results = _finish(conn, inputs, change, grain, collectors, only_snapshot)
        t3 = time.perf_counter()
        timings["aggregate"] = t3 - t2
    t4 = time.perf_counter()
    timings["commit"] = t4 - t3
    build = {
        "build": "full" if change.full else "incremental",
        "build_reason": change.reason,
        "tasks_recomputed": collectors.tasks,
        "tasks_read": collectors.tasks,
    }
    for result in results.values():
        result.seconds.update(timings)
        result.extra.update(build)
    return results


def _plan(
    conn: Connection, inputs: ReportInputs, force_full: bool, keep_state: bool
) -> tuple[ChangeSet, str, datetime | None]:
    """Stage the linked returns and the author teams, then decide what to recompute.

    The linked returns are counted again only for the linked tasks that changed since
    the previous build when it may be incremental (`full_reason`); `keep_state`
    (not for a snapshot-only build) stores the counts for the next build."""
    product = [inputs.config.queues.product]
    create_author_teams(conn, inputs)
    first = first_created(conn, as_of=inputs.as_of, queues=product)
    grain = product_grain(inputs, first)
    previous = previous_build(conn, FAMILY)
    since = None if full_reason(previous, inputs, grain, force_full) else previous.as_of
    prepare_linked_returns(conn, inputs, since=since, store=keep_state)
    change = plan_changes(
        conn,
        inputs,
        family=FAMILY,
        queues=product,
        force_full=force_full,
        grain=grain,
        extra_keys=[RETURNS_CHANGED],
    )
    begin_task_state(conn)
    return change, grain, first


def _collectors(
    conn: Connection,
    inputs: ReportInputs,
    change: ChangeSet,
    first: datetime | None,
    p85: dict[tuple[str, str], float],
) -> _Pass:
    """Full: collectors that replace the tables. Incremental: the changed keys' rows
    are deleted and the collectors append; the flow starts from the stored table minus
    the stored contributions of the changed tasks."""
    replace = change.full
    flow = FlowCollector(inputs, first)
    if not replace:
        for table in (DETAILS, AGING):
            conn.execute(
                sa.text(
                    f"DELETE FROM {table} WHERE task_key IN (SELECT task_key FROM rep_changed_keys)"
                )
            )
        flow.load(conn)
        for _, state in stored_states(conn, FAMILY):
            if state and state.get("f") is not None:
                flow.apply(state["f"], -1)
    return _Pass(
        DetailsCollector(conn, inputs, replace=replace),
        flow,
        AgingCollector(conn, inputs, p85, replace=replace),
    )


def _stream(
    conn: Connection,
    inputs: ReportInputs,
    change: ChangeSet,
    batch_size: int,
    collectors: _Pass,
) -> None:
    """Feed the tasks' views (every product task, or the changed keys) to the collectors
    and each task's state to rep_task_state."""
    details, flow, aging = collectors.details, collectors.flow, collectors.aging
    for batch in stream_tasks(
        conn,
        as_of=inputs.as_of,
        queues=[inputs.config.queues.product],
        batch_size=batch_size,
        extra_columns=(
            ", COALESCE(ret.returns_testing, 0), COALESCE(ret.returns_external_test, 0), "
            "COALESCE(ret.returns_total, 0)"
        ),
        extra_joins="\nLEFT JOIN rep_product_returns ret ON ret.product_id = t.id",
        extra_where="" if change.full else CHANGED_KEYS_WHERE,
    ):
        states = []
        for task in batch:
            view = view_of(task, inputs)
            details.add(view, (int(task.extra[0]), int(task.extra[1]), int(task.extra[2])))
            contribution = flow.add(view)
            aging.add(view)
            state = None if contribution is None else {"f": contribution}
            states.append((task.id, state, recompute_at(view, inputs)))
        write_task_states(conn, states)
        collectors.tasks += len(batch)


#: the teams, of `:teams`, that some product task's stored flow contribution names
_TEAMS_WITH_TASKS = """
SELECT t FROM unnest(CAST(:teams AS text[])) AS t
WHERE EXISTS (
    SELECT 1 FROM report_build_tasks b
    WHERE b.family = :family AND jsonb_typeof(b.state -> 'f') = 'array'
      AND b.state -> 'f' ->> 0 IS NOT DISTINCT FROM t
)
"""


def flow_teams(conn: Connection, seen: Iterable[str | None]) -> set[str | None]:
    """The flow's teams after an incremental build: those the collector has seen (the
    stored table's and the recomputed tasks') that some task still contributes to.
    Decision: an EXISTS per team, which stops at its first task, instead of a DISTINCT
    over every stored state (0.12 s at 50k tasks); only a team that lost its last task
    costs a whole scan."""
    return set(conn.scalars(sa.text(_TEAMS_WITH_TASKS), {"teams": list(seen), "family": FAMILY}))


def _finish(
    conn: Connection,
    inputs: ReportInputs,
    change: ChangeSet,
    grain: str,
    collectors: _Pass,
    only_snapshot: bool,
) -> dict[str, ReportResult]:
    """Close the tables, record the build (not for a snapshot-only one), write the flow,
    the summary and the snapshot."""
    results = {DETAILS: collectors.details.close(), AGING: collectors.aging.close()}
    aging.store_stay_states(conn)
    teams = None
    if not only_snapshot:
        record_build(conn, inputs, change, grain)
    if not change.full:
        aging.refresh_p85(conn)
        results[DETAILS] = details.stored_result(conn, inputs)
        results[AGING] = aging.stored_result(conn)
        teams = flow_teams(conn, collectors.flow.arrivals.keys())
    results[FLOW] = collectors.flow.write(conn, teams)
    results[SUMMARY] = build_summary(conn, inputs)
    for table, rows in write_snapshot(conn, inputs).items():
        results[SUMMARY].extra[f"{table}_rows"] = rows
    return results
