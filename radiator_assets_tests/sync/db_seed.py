"""Helpers that put tasks and changelog entries straight into a test database."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from radiator_assets.storage.unit_of_work import unit_of_work


def add_task(
    engine: sa.Engine,
    tracker_id: str,
    key: str,
    created: datetime,
    status: str,
    status_key: str | None = None,
) -> int:
    with unit_of_work(engine) as conn:
        return conn.scalar(
            sa.text(
                "INSERT INTO tracker_tasks (tracker_id, key, queue, full_data, created_at, "
                "task_updated_at, status, status_key) VALUES (:t, :k, split_part(:k, '-', 1), "
                "'{}', :c, :c, :s, :sk) RETURNING id"
            ),
            {"t": tracker_id, "k": key, "c": created, "s": status, "sk": status_key or status},
        )


def add_status_change(
    engine: sa.Engine, task_id: int, entry_id: str, at: datetime, src: str | None, dst: str
) -> None:
    with unit_of_work(engine) as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tracker_changelog (id, task_id, updated_at, type, status_from, "
                "status_from_key, status_to, status_to_key, raw) VALUES "
                "(:id, :task, :at, 'IssueWorkflow', :f, :f, :t, :t, '{}')"
            ),
            {"id": entry_id, "task": task_id, "at": at, "f": src, "t": dst},
        )
        conn.execute(
            sa.text("UPDATE tracker_tasks SET history_stale = true WHERE id = :id"), {"id": task_id}
        )


def stays(engine: sa.Engine, task_id: int) -> list[tuple[str, datetime, datetime | None]]:
    with engine.connect() as conn:
        return [
            (r.status, r.start_date, r.end_date)
            for r in conn.execute(
                sa.text(
                    "SELECT status, start_date, end_date FROM tracker_task_history "
                    "WHERE task_id = :t ORDER BY start_date"
                ),
                {"t": task_id},
            )
        ]
