"""The data-quality queries find seeded bad data and pass clean data."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from radiator_assets.storage import quality
from radiator_assets.sync.history import build_history
from radiator_assets_tests.locked import locked
from radiator_assets_tests.sync.db_seed import add_status_change, add_task


def d(day: int) -> datetime:
    return datetime(2025, 1, day, tzinfo=UTC)


def _clean_history(engine: sa.Engine) -> int:
    task = add_task(engine, "t1", "CPO-1", d(1), "Done")
    add_status_change(engine, task, "e1", d(3), "Открыт", "В работе")
    add_status_change(engine, task, "e2", d(6), "В работе", "Done")
    locked(build_history, engine)
    return task


def test_clean_history_passes_every_query(engine: sa.Engine) -> None:
    _clean_history(engine)
    with engine.connect() as conn:
        assert quality.duplicate_stays(conn).count == 0
        assert quality.overlapping_stays(conn).count == 0
        assert quality.tasks_with_several_open_stays(conn).count == 0
        assert quality.orphan_history_rows(conn).count == 0
        assert quality.duplicate_changelog_ids(conn).count == 0


def test_a_duplicated_stay_is_found(engine: sa.Engine) -> None:
    task = _clean_history(engine)
    with engine.begin() as conn:
        # Only possible with the constraint gone: the check is the second line of defence.
        conn.execute(
            sa.text(
                "ALTER TABLE tracker_task_history "
                "DROP CONSTRAINT uq_tracker_task_history_task_id_status_start_date"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO tracker_task_history (task_id, tracker_id, status, start_date) "
                "SELECT task_id, tracker_id, status, start_date FROM tracker_task_history "
                "WHERE task_id = :t AND status = 'В работе'"
            ),
            {"t": task},
        )
    with engine.connect() as conn:
        finding = quality.duplicate_stays(conn)
    assert finding.count == 1
    assert finding.sample[0]["status"] == "В работе"
    assert finding.sample[0]["copies"] == 2


def test_an_overlapping_stay_is_found(engine: sa.Engine) -> None:
    task = _clean_history(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE tracker_task_history SET end_date = :late "
                "WHERE task_id = :t AND status = 'Открыт'"
            ),
            {"t": task, "late": d(4)},
        )
    with engine.connect() as conn:
        finding = quality.overlapping_stays(conn)
    assert finding.count == 1
    assert finding.sample[0]["status"] == "Открыт"


def test_a_second_open_stay_is_found(engine: sa.Engine) -> None:
    task = _clean_history(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE tracker_task_history SET end_date = NULL WHERE task_id = :t"),
            {"t": task},
        )
    with engine.connect() as conn:
        assert quality.tasks_with_several_open_stays(conn).count == 1


def test_distinct_statuses_lists_each_status_once_with_its_stays(engine: sa.Engine) -> None:
    _clean_history(engine)
    with engine.connect() as conn:
        assert quality.distinct_statuses(conn) == [
            ("Done", "Done", 1),
            ("В работе", "В работе", 1),
            ("Открыт", "Открыт", 1),
        ]
