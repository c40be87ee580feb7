"""The invariant incremental report builds rely on (`reports/changes.py`): a sync that
changes a task's stays also writes its task row, so the row's xmin changes."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from radiator_assets.emulator import TrackerEmulator
from radiator_assets_tests.assets.conftest import run_full_sync


def _rows(engine: sa.Engine) -> dict[int, tuple[str, tuple]]:
    """Per task id: its row's xmin and its stays."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT t.id, t.xmin::text, array_agg((h.status, h.start_date, h.end_date)::text "
                "ORDER BY h.start_date, h.id) FILTER (WHERE h.id IS NOT NULL) "
                "FROM tracker_tasks t LEFT JOIN tracker_task_history h ON h.task_id = t.id "
                "GROUP BY t.id"
            )
        ).all()
    return {task_id: (xmin, tuple(stays or ())) for task_id, xmin, stays in rows}


def test_a_sync_that_changes_a_tasks_stays_changes_its_task_rows_xmin(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    before = _rows(engine)
    tracker_env.advance_clock(timedelta(hours=2))
    tracker_env.add_changes(5, kind="status")

    run_full_sync(engine)

    after = _rows(engine)
    new_stays = {t for t in before if t in after and after[t][1] != before[t][1]}
    new_xmin = {t for t in before if t in after and after[t][0] != before[t][0]}
    assert len(new_stays) == 5
    assert new_stays <= new_xmin
