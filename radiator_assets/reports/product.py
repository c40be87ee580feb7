"""One pass over the product queue builds four reports.

report_ttm_details, report_ttm_summary, report_flow_weekly and report_aging_wip
all need the engine's metrics of every product task; computing them once and
feeding four collectors makes the pass (the expensive part: about a quarter of
a millisecond per task) happen once. All four tables are replaced in one
transaction, so they always describe the same as_of and the same data, and
the same transaction replaces the snapshot of that as_of (`history.py`).
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from radiator_assets.reports.aging import AgingCollector, create_author_teams, team_status_p85
from radiator_assets.reports.common import ReportInputs, ReportResult, collector_paused
from radiator_assets.reports.details import DetailsCollector
from radiator_assets.reports.flow import FlowCollector
from radiator_assets.reports.history import shadow_tables, write_snapshot
from radiator_assets.reports.loading import (
    DEFAULT_BATCH_SIZE,
    first_created,
    snapshot,
    stream_tasks,
)
from radiator_assets.reports.returns import prepare_linked_returns
from radiator_assets.reports.summary import build_summary
from radiator_assets.reports.task_view import view_of
from radiator_assets.storage.unit_of_work import unit_of_work

DETAILS = "report_ttm_details"
SUMMARY = "report_ttm_summary"
FLOW = "report_flow_weekly"
AGING = "report_aging_wip"
PRODUCT_REPORTS = (DETAILS, SUMMARY, FLOW, AGING)


def build_product_reports(
    engine: Engine,
    inputs: ReportInputs,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pictures_dir: Path | None = None,
    only_snapshot: bool = False,
) -> dict[str, ReportResult]:
    """Replace the four product-queue reports and the snapshot of their as_of; with
    `pictures_dir`, render their PNGs. With `only_snapshot`, the reports are built into
    temporary tables that shadow theirs (`history.shadow_tables`): only the snapshot
    is kept."""
    if only_snapshot and pictures_dir is not None:
        raise ValueError("a snapshot-only build draws no pictures: the reports are not kept")
    t0 = time.perf_counter()
    product = [inputs.config.queues.product]
    timings: dict[str, float] = {}
    with snapshot(engine) as reader, unit_of_work(engine) as conn:
        if only_snapshot:
            shadow_tables(conn, PRODUCT_REPORTS)
        returns_sql = prepare_linked_returns(reader, inputs)
        create_author_teams(reader, inputs)
        p85 = team_status_p85(reader, inputs)
        t1 = time.perf_counter()
        timings["prepare"] = t1 - t0
        details = DetailsCollector(conn, inputs)
        flow = FlowCollector(inputs, first_created(reader, as_of=inputs.as_of, queues=product))
        aging = AgingCollector(conn, inputs, p85)
        with collector_paused():
            tasks = _stream(reader, inputs, returns_sql, batch_size, (details, flow, aging))
        results = {DETAILS: details.close()}
        t2 = time.perf_counter()
        timings["stream"] = t2 - t1
        results[SUMMARY] = build_summary(conn, inputs)
        results[FLOW] = flow.write(conn)
        results[AGING] = aging.close()
        for table, rows in write_snapshot(conn, inputs).items():
            results[SUMMARY].extra[f"{table}_rows"] = rows
        t3 = time.perf_counter()
        timings["aggregate"] = t3 - t2
    t4 = time.perf_counter()
    timings["commit"] = t4 - t3
    if pictures_dir is not None:
        from radiator_assets.reports.pictures import render_product_pictures
        from radiator_assets.reports.trends import render_trends

        for name, path in render_product_pictures(engine, inputs, pictures_dir).items():
            results[name[0]].pictures[name[1]] = str(path)
        results[SUMMARY].pictures["trends"] = str(render_trends(engine, inputs, pictures_dir))
        timings["pictures"] = time.perf_counter() - t4
    for result in results.values():
        result.seconds.update(timings)
        result.extra["tasks_read"] = tasks
    return results


def _stream(
    reader: Connection,
    inputs: ReportInputs,
    returns_sql: str,
    batch_size: int,
    collectors: tuple[DetailsCollector, FlowCollector, AgingCollector],
) -> int:
    """Feed every product task's view to the collectors; returns how many tasks."""
    details, flow, aging = collectors
    tasks = 0
    for batch in stream_tasks(
        reader,
        as_of=inputs.as_of,
        queues=[inputs.config.queues.product],
        batch_size=batch_size,
        extra_columns=(
            ", COALESCE(ret.returns_testing, 0), COALESCE(ret.returns_external_test, 0), "
            "COALESCE(ret.returns_total, 0)"
        ),
        extra_joins=f"\nLEFT JOIN {returns_sql} ret ON ret.product_id = t.id",
    ):
        for task in batch:
            view = view_of(task, inputs)
            details.add(view, (int(task.extra[0]), int(task.extra[1]), int(task.extra[2])))
            flow.add(view)
            aging.add(view)
        tasks += len(batch)
    return tasks
