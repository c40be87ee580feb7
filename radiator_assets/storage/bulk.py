"""COPY from Python: the fastest way rows get into PostgreSQL through psycopg2.

Multi-row `INSERT ... ON CONFLICT` is convenient, but COPY into a staging
table followed by one `INSERT ... SELECT ... ON CONFLICT` is several times
faster for large batches (benchmarks/bench_sync.py measures both).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text_value(value: Any) -> str:
    """A value in COPY's text format: NULL is \\N, backslash, tab and newlines escaped."""
    kind = type(value)
    if kind is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_ESCAPES)
        return value
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is float:
        return repr(value)
    if kind is dict or kind is list:
        return json.dumps(value, ensure_ascii=False).translate(_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def copy_rows(
    conn: Connection,
    table: sa.Table | sa.TableClause | str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """COPY `rows` (tuples in `columns` order) into `table`, in the caller's transaction;
    returns how many."""
    lines = ["\t".join(map(_text_value, row)) for row in rows]
    if not lines:
        return 0
    buffer = io.StringIO("\n".join(lines) + "\n")
    column_list = ", ".join(f'"{c}"' for c in columns)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        name = table if isinstance(table, str) else table.name
        cursor.copy_expert(f'COPY "{name}" ({column_list}) FROM STDIN', buffer)
    finally:
        cursor.close()
    return len(lines)
