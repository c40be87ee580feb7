"""The history writer cannot create duplicate stays."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from radiator_assets.storage.history_writer import StayRow, upsert_stays
from radiator_assets.storage.unit_of_work import unit_of_work


def _task(engine: sa.Engine) -> int:
    with unit_of_work(engine) as conn:
        return conn.scalar(
            sa.text(
                "INSERT INTO tracker_tasks (tracker_id, key, full_data) "
                "VALUES ('abc', 'CPO-1', '{}') RETURNING id"
            )
        )


def _stay(task_id: int, end: datetime | None) -> StayRow:
    return StayRow(
        task_id=task_id,
        tracker_id="abc",
        status_key="open",
        status="Открыт",
        status_display="Открыт",
        start_date=datetime(2025, 1, 1, 9, 0, tzinfo=UTC),
        end_date=end,
    )


def test_writing_the_same_stay_twice_leaves_one_row(engine: sa.Engine) -> None:
    task_id = _task(engine)
    with unit_of_work(engine) as conn:
        upsert_stays(conn, [_stay(task_id, None)])
    with unit_of_work(engine) as conn:
        upsert_stays(conn, [_stay(task_id, None)])

    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM tracker_task_history")) == 1


def test_a_duplicate_within_one_batch_keeps_the_later_end_date(engine: sa.Engine) -> None:
    task_id = _task(engine)
    closed = datetime(2025, 1, 3, tzinfo=UTC)
    with unit_of_work(engine) as conn:
        upsert_stays(conn, [_stay(task_id, None)])
        upsert_stays(conn, [_stay(task_id, closed)])

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT end_date FROM tracker_task_history")).all()
    assert rows == [(closed,)]
