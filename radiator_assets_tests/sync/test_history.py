"""Status stays follow the spec's rules and are rebuilt only for tasks with new entries."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from radiator_assets.sync.history import build_history
from radiator_assets_tests.locked import locked
from radiator_assets_tests.sync.db_seed import add_status_change, add_task, stays


def d(day: int, hour: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, tzinfo=UTC)


def test_the_first_stay_starts_at_creation_in_the_first_changes_from_status(
    engine: sa.Engine,
) -> None:
    task = add_task(engine, "t1", "CPO-1", d(1), "Done")
    add_status_change(engine, task, "e1", d(3), "Открыт", "В работе")
    add_status_change(engine, task, "e2", d(7), "В работе", "Done")

    locked(build_history, engine)

    assert stays(engine, task) == [
        ("Открыт", d(1), d(3)),
        ("В работе", d(3), d(7)),
        ("Done", d(7), None),
    ]


def test_a_task_without_status_changes_has_one_open_stay_in_its_current_status(
    engine: sa.Engine,
) -> None:
    task = add_task(engine, "t1", "CPO-1", d(2), "Discovery backlog")

    locked(build_history, engine)

    assert stays(engine, task) == [("Discovery backlog", d(2), None)]


def test_only_stale_tasks_are_rebuilt(engine: sa.Engine) -> None:
    first = add_task(engine, "t1", "CPO-1", d(1), "Открыт")
    second = add_task(engine, "t2", "CPO-2", d(1), "Открыт")
    locked(build_history, engine)

    add_status_change(engine, second, "e1", d(4), "Открыт", "Done")
    result = locked(build_history, engine)

    assert result.tasks_rebuilt == 1
    assert stays(engine, first) == [("Открыт", d(1), None)]
    assert stays(engine, second) == [("Открыт", d(1), d(4)), ("Done", d(4), None)]


def test_rebuilding_twice_leaves_the_same_stays(engine: sa.Engine) -> None:
    task = add_task(engine, "t1", "CPO-1", d(1), "Done")
    add_status_change(engine, task, "e1", d(3), "Открыт", "Done")
    locked(build_history, engine)
    before = stays(engine, task)

    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE tracker_tasks SET history_stale = true"))
    locked(build_history, engine)

    assert stays(engine, task) == before


def test_changes_out_of_id_order_are_ordered_by_time(engine: sa.Engine) -> None:
    task = add_task(engine, "t1", "CPO-1", d(1), "C")
    add_status_change(engine, task, "e9", d(2), "A", "B")
    add_status_change(engine, task, "e1", d(5), "B", "C")

    locked(build_history, engine)

    assert [s[0] for s in stays(engine, task)] == ["A", "B", "C"]


def test_stale_tasks_are_taken_in_batches_and_none_is_left_stale(engine: sa.Engine) -> None:
    tasks = [add_task(engine, f"t{i}", f"CPO-{i}", d(1), "Открыт") for i in range(5)]
    add_status_change(engine, tasks[3], "e1", d(4), "Открыт", "Done")

    result = locked(build_history, engine, batch_tasks=2)

    assert (result.batches, result.tasks_rebuilt, result.stays_written) == (3, 5, 6)
    assert stays(engine, tasks[3]) == [("Открыт", d(1), d(4)), ("Done", d(4), None)]
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM tracker_tasks WHERE history_stale")) == 0
    parts = sum(result.seconds[p] for p in ("claim", "delete", "insert", "commit"))
    assert 0 < parts <= result.seconds["rebuild"]
