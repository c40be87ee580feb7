"""Replacing a report table's rows: DELETE, then COPY in batches, in the caller's transaction.

Readers in other transactions keep seeing the old rows until the caller
commits (PostgreSQL MVCC; DELETE rather than TRUNCATE, which would block
them), so a half-built report is never visible. Two builds at once (the
daily schedule next to a sensor's run) take turns: the first writer takes a
transaction-level advisory lock that the second waits for, so they never
insert the same keys side by side; the last to commit wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.storage.bulk import copy_rows

__all__ = ["DEFAULT_FLUSH_ROWS", "TableWriter", "copy_rows"]

DEFAULT_FLUSH_ROWS = 5000
REPORTS_WRITE_LOCK = 7_202_614  # one lock for every report table: no order, no deadlock


def lock_reports(conn: Connection) -> None:
    """Take the reports' write lock for the rest of the transaction: every writer of a
    report table (a full build's `TableWriter`, an incremental build, a refresh) holds it."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": REPORTS_WRITE_LOCK})


class TableWriter:
    """Replaces `table`'s rows within the caller's transaction: DELETE on creation, then
    rows are buffered and COPYed every `flush_rows` rows (and on `close`). With
    `replace=False` it only appends (an incremental build, which deleted the rows of the
    tasks it recomputes itself)."""

    def __init__(
        self,
        conn: Connection,
        table: sa.Table,
        columns: Sequence[str] | None = None,
        *,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        replace: bool = True,
    ) -> None:
        self.conn = conn
        self.table = table
        self.columns = list(columns) if columns is not None else [c.name for c in table.columns]
        self.flush_rows = flush_rows
        self.rows_written = 0
        self._pending: list[Sequence[Any]] = []
        lock_reports(conn)
        if replace:
            conn.execute(table.delete())

    def write(self, row: Sequence[Any]) -> None:
        self._pending.append(row)
        if len(self._pending) >= self.flush_rows:
            self.flush()

    def write_many(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.write(row)

    def write_dict(self, row: dict[str, Any]) -> None:
        self.write([row.get(c) for c in self.columns])

    def flush(self) -> None:
        if self._pending:
            self.rows_written += copy_rows(self.conn, self.table, self.columns, self._pending)
            self._pending = []

    def close(self) -> int:
        self.flush()
        return self.rows_written


def replace_rows(
    conn: Connection,
    table: sa.Table,
    rows: Iterable[Sequence[Any]],
    columns: Sequence[str] | None = None,
) -> int:
    """Replace all rows of `table` with `rows` in the caller's transaction."""
    writer = TableWriter(conn, table, columns)
    writer.write_many(rows)
    return writer.close()
