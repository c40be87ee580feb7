"""Units of work: one transaction each, committed on success, rolled back and
re-raised on error, with the failing statement logged.

The predecessor wrapped statements in blanket `rollback()` calls and carried
on, so one failure poisoned every later statement (`InFailedSqlTransaction`).
Here a failure ends the unit of work; the connection goes back to the pool
clean and the next unit of work starts fresh.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("radiator_assets.sql")

_SECRET_KEY = re.compile(r"(pass(word)?|token|secret|authorization)", re.IGNORECASE)
_MAX_LOGGED_ROWS = 5
_MAX_VALUE_CHARS = 200
REDACTED = "***"
T = TypeVar("T")


def _short(value: Any) -> Any:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS] + "...'"


def redact_parameters(params: Any) -> Any:
    """Parameters as they may appear in a log: secret-looking keys masked,
    long values and long batches shortened."""
    if isinstance(params, Mapping):
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) else _short(v)) for k, v in params.items()
        }
    if isinstance(params, Sequence) and not isinstance(params, str | bytes):
        rows = [redact_parameters(p) for p in list(params)[:_MAX_LOGGED_ROWS]]
        if len(params) > _MAX_LOGGED_ROWS:
            rows.append(f"... {len(params) - _MAX_LOGGED_ROWS} more")
        return rows
    return _short(params)


def log_failed_statement(error: BaseException, statement: str | None, parameters: Any) -> None:
    """The one log line of a failed statement: error type, SQL, redacted parameters."""
    log.error(
        "SQL failed: %s\nstatement: %s\nparameters: %s",
        type(error).__name__,
        statement,
        redact_parameters(parameters),
    )


def _log_failed_statement(context: sa.engine.ExceptionContext) -> None:
    log_failed_statement(context.original_exception, context.statement, context.parameters)


def install_error_logging(engine: Engine) -> None:
    """Log every failing statement with its SQL and (redacted) parameters."""
    if not sa.event.contains(engine, "handle_error", _log_failed_statement):
        sa.event.listen(engine, "handle_error", _log_failed_statement)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Connection]:
    """One transaction: commit when the block ends, roll back and re-raise when it fails."""
    with engine.begin() as conn:
        yield conn


# A row's data refused by the database (bad value, constraint): that row is the
# problem, not the batch. Anything else (connection lost, schema missing) is not.
# COPY runs on the driver's cursor, so its errors arrive unwrapped: both kinds count.
ROW_ERRORS = (
    sa.exc.DataError,
    sa.exc.IntegrityError,
    psycopg2.DataError,
    psycopg2.IntegrityError,
)


def row_error_text(exc: Exception) -> str:
    """The database's own one-line reason for refusing a row."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    text = str(orig).strip()
    return f"{type(orig).__name__}: {text.splitlines()[0] if text else ''}"


def write_isolating_refusals(
    conn: Connection,
    items: Sequence[T],
    write: Callable[[Connection, Sequence[T]], object],
) -> list[tuple[T, str]]:
    """`write(conn, items)` in one go; when the database refuses a row's data, write the
    items one at a time instead, each in a savepoint, and return the refused ones with
    the reason. The others are written either way, in the caller's transaction."""
    try:
        with conn.begin_nested():
            write(conn, items)
        return []
    except ROW_ERRORS:
        log.warning(
            "a batch of %d was refused; writing it row by row to isolate the bad ones", len(items)
        )
    refused: list[tuple[T, str]] = []
    for item in items:
        try:
            with conn.begin_nested():
                write(conn, [item])
        except ROW_ERRORS as exc:
            refused.append((item, row_error_text(exc)))
    return refused
