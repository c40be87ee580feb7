"""Data-quality queries behind the asset checks: all set-based, all bounded in output.

Each returns a count and a small sample; none brings a table into Python (the
predecessor's duplicate cleanup loaded 88K history rows to find duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

SAMPLE = 5


@dataclass(frozen=True)
class Finding:
    count: int
    sample: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return self.count == 0


def _finding(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> Finding:
    """`sql` selects offending rows; we count them and keep a few."""
    rows = conn.execute(
        sa.text(f"SELECT q.*, count(*) OVER () AS total FROM ({sql}) q LIMIT {SAMPLE}"),
        params or {},
    ).mappings()
    sample = [dict(r) for r in rows]
    total = sample[0]["total"] if sample else 0
    for row in sample:
        row.pop("total")
        for k, v in row.items():
            if not isinstance(v, int | float | str | type(None)):
                row[k] = str(v)
    return Finding(int(total), sample)


def duplicate_stays(conn: Connection) -> Finding:
    return _finding(
        conn,
        "SELECT task_id, status, start_date, count(*) AS copies FROM tracker_task_history "
        "GROUP BY task_id, status, start_date HAVING count(*) > 1",
    )


def duplicate_changelog_ids(conn: Connection) -> Finding:
    return _finding(
        conn,
        "SELECT id, count(*) AS copies FROM tracker_changelog GROUP BY id HAVING count(*) > 1",
    )


def overlapping_stays(conn: Connection) -> Finding:
    """Stays that end after the next stay of the same task starts (or never end, yet have one)."""
    return _finding(
        conn,
        "SELECT task_id, status, start_date, end_date, next_start FROM ("
        "  SELECT task_id, status, start_date, end_date,"
        "         lead(start_date) OVER (PARTITION BY task_id ORDER BY start_date, id)"
        "           AS next_start"
        "  FROM tracker_task_history) s "
        "WHERE next_start IS NOT NULL AND (end_date IS NULL OR end_date > next_start)",
    )


def tasks_with_several_open_stays(conn: Connection) -> Finding:
    return _finding(
        conn,
        "SELECT task_id, count(*) AS open_stays FROM tracker_task_history "
        "WHERE end_date IS NULL GROUP BY task_id HAVING count(*) > 1",
    )


def orphan_history_rows(conn: Connection) -> Finding:
    return _finding(
        conn,
        "SELECT h.id, h.task_id FROM tracker_task_history h "
        "LEFT JOIN tracker_tasks t ON t.id = h.task_id WHERE t.id IS NULL",
    )


def open_quarantine(conn: Connection, kind: str) -> Finding:
    """Records of `kind` waiting in the quarantine, the least recently seen first."""
    return _finding(
        conn,
        "SELECT ref, issue_key AS key, reason, attempts FROM tracker_quarantine "
        "WHERE kind = :kind AND resolved_at IS NULL ORDER BY last_seen_at, id",
        {"kind": kind},
    )


def distinct_statuses(conn: Connection) -> list[tuple[str, str | None, int]]:
    """(status, status_key, stays) for every status in the history: a short list."""
    return [
        (r.status, r.status_key, r.stays)
        for r in conn.execute(
            sa.text(
                "SELECT status, max(status_key) AS status_key, count(*) AS stays "
                "FROM tracker_task_history GROUP BY status ORDER BY status"
            )
        )
    ]
