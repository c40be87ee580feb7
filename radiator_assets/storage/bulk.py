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

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from radiator_assets.storage.unit_of_work import log_failed_statement

_COPY_READ_BYTES = 4 << 20


class SerialisedJson(dict[str, Any]):
    """A JSON object that carries the text it serialises to (`json.dumps(obj,
    ensure_ascii=False)`), so COPY writes that text instead of serialising the object a
    second time: a changelog entry is serialised once anyway, to check it is storable
    (`sync.payloads.clean_json_text`), and a second `json.dumps` was a tenth of a sync's
    CPU. It is a plain dict to everyone else; it must not be changed after it is made."""

    __slots__ = ("json_text",)

    def __init__(self, value: dict[str, Any], json_text: str) -> None:
        super().__init__(value)
        self.json_text = json_text


def serialise_json(value: Any) -> str:
    """The engine's JSON serialiser for bound JSON/JSONB parameters (`engine.create_engine`):
    a `SerialisedJson`'s own text, anything else by `json.dumps` (SQLAlchemy's default). An
    issue row's `full_data` (some 5 KB) was serialised twice, once to check it is storable
    and once more when bound to the upsert."""
    if type(value) is SerialisedJson:
        return value.json_text
    return json.dumps(value)


def _escape(text: str) -> str:
    """Backslash, tab and line breaks escaped for COPY's text format. Chained `replace`
    (C loops) rather than `str.translate` with a dict, which costs a Python-level lookup
    per character: on changelog JSON that was 100x slower and most of a sync's CPU."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _text_value(value: Any) -> str:
    """A value in COPY's text format: NULL is \\N, backslash, tab and newlines escaped."""
    kind = type(value)
    if kind is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return _escape(value)
        return value
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is float:
        return repr(value)
    if kind is SerialisedJson:
        return value.json_text.replace("\\", "\\\\")  # as for dict, below
    if kind is dict or kind is list:
        # json.dumps escapes tab and line breaks inside strings itself and writes none
        # between tokens: only its backslashes need doubling.
        return json.dumps(value, ensure_ascii=False).replace("\\", "\\\\")
    if isinstance(value, datetime):
        return value.isoformat()
    return _escape(str(value))


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
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    column_list = ", ".join(f'"{c}"' for c in columns)
    name = table if isinstance(table, str) else table.name
    statement = f'COPY "{name}" ({column_list}) FROM STDIN'
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        # psycopg2 takes the GIL back for every read of `size` bytes; with the fetch threads
        # busy each retake can wait a switch interval (5 ms), so the payload goes in large
        # reads rather than the default 8 KiB (a changelog batch is about 30 of those).
        cursor.copy_expert(statement, io.BytesIO(payload), size=min(len(payload), _COPY_READ_BYTES))
    except psycopg2.Error as exc:
        # COPY runs on the driver's cursor, past SQLAlchemy's error hook: log it here.
        log_failed_statement(exc, statement, lines)
        raise
    finally:
        cursor.close()
    return len(lines)
