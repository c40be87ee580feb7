"""The sync's bulk writes: what reaches PostgreSQL is exactly the payload, in few statements."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa

from radiator_assets.metrics.config import CustomFields
from radiator_assets.storage.bulk import SerialisedJson, copy_rows
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets.sync.changelog import CHANGELOG_COLUMNS
from radiator_assets.sync.issues import upsert_issue_batch
from radiator_assets.sync.payloads import changelog_row, issue_row
from radiator_assets_tests.sync.db_seed import add_task

# Everything COPY's text format and JSON escape: backslashes, quotes, tabs, line breaks,
# an escaped unicode character, a NUL and an unpaired surrogate (both cleaned on the way).
TRICKY = 'back\\slash "quoted"\ttab\nline\r\nwindows \\u0041 nul\x00 lone\ud800'
CLEANED = 'back\\slash "quoted"\ttab\nline\r\nwindows \\u0041 nul lone\ufffd'


def _entry(entry_id: str, summary: str) -> dict[str, Any]:
    return {
        "id": entry_id,
        "updatedAt": "2025-01-03T12:00:00.000+0300",
        "updatedBy": {"display": "Author 2"},
        "type": "IssueUpdated",
        "fields": [{"field": {"id": "summary"}, "from": "a", "to": summary}],
    }


def test_a_changelog_entry_reaches_jsonb_exactly_as_cleaned_through_copy(
    engine: sa.Engine,
) -> None:
    task = add_task(engine, "t1", "CPO-1", datetime(2025, 1, 1, tzinfo=UTC), "Открыт")
    row = changelog_row(_entry("e1", TRICKY), task)
    assert isinstance(row["raw"], SerialisedJson)
    assert row["raw"]["fields"][0]["to"] == CLEANED

    with unit_of_work(engine) as conn:
        values = [row[c] for c in CHANGELOG_COLUMNS]
        copy_rows(conn, "tracker_changelog", CHANGELOG_COLUMNS, [values])
        stored = conn.scalar(sa.text("SELECT raw FROM tracker_changelog WHERE id = 'e1'"))

    assert stored == _entry("e1", CLEANED)


def test_a_serialised_object_and_a_plain_dict_are_copied_alike(engine: sa.Engine) -> None:
    value = {"text": TRICKY.replace("\x00", "").replace("\ud800", "?"), "n": [1, 2.5, None]}
    serialised = SerialisedJson(value, json.dumps(value, ensure_ascii=False))
    with unit_of_work(engine) as conn:
        conn.execute(sa.text("CREATE TABLE copied (k integer, v jsonb)"))
        copy_rows(conn, "copied", ["k", "v"], [[1, value], [2, serialised]])
        rows = conn.execute(sa.text("SELECT k, v FROM copied ORDER BY k")).all()

    assert [tuple(r) for r in rows] == [(1, value), (2, value)]


def test_a_refused_copy_is_logged_with_its_statement_and_rows(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="radiator_assets.sql")
    with pytest.raises(psycopg2.errors.CheckViolation), unit_of_work(engine) as conn:
        conn.execute(sa.text("CREATE TABLE small (n integer CHECK (n < 10))"))
        copy_rows(conn, "small", ["n"], [[1], [42]])

    copy_log = next(r.getMessage() for r in caplog.records if "COPY" in r.getMessage())
    assert copy_log.startswith("SQL failed: CheckViolation")
    assert 'COPY "small" ("n") FROM STDIN' in copy_log
    assert "'42'" in copy_log


def _issue(n: int) -> dict[str, Any]:
    return {
        "id": f"id-{n}",
        "key": f"CPO-{n}",
        "summary": f"Issue {n}",
        "queue": {"key": "CPO"},
        "status": {"key": "open", "display": "Открыт"},
        "createdAt": "2025-01-01T09:00:00.000+0000",
        "updatedAt": f"2025-01-0{1 + n % 5}T10:00:00.000+0000",
    }


def test_a_batch_of_new_and_changed_issues_is_one_insert_statement(engine: sa.Engine) -> None:
    """A bound value outside the rows' parameters (`deleted_at = None` in the SET clause)
    once made SQLAlchemy send the upsert one row per statement."""
    statements: list[str] = []

    def count_inserts(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("INSERT INTO tracker_tasks"):
            statements.append(statement)

    fields = CustomFields()
    with unit_of_work(engine) as conn:
        upsert_issue_batch(conn, [issue_row(_issue(n), fields) for n in range(10)])
        conn.execute(
            sa.text("UPDATE tracker_tasks SET deleted_at = now(), out_of_query_since = now()")
        )
    changed = [
        issue_row({**_issue(n), "updatedAt": "2025-02-01T10:00:00.000+0000"}, fields)
        for n in range(20)
    ]
    sa.event.listen(engine, "before_cursor_execute", count_inserts)
    try:
        with unit_of_work(engine) as conn:
            counts = upsert_issue_batch(conn, changed)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_inserts)

    assert counts == {"inserted": 10, "updated": 10, "unchanged": 0, "moved": 0}
    assert len(statements) == 1
    with engine.connect() as conn:
        assert conn.execute(
            sa.text(
                "SELECT count(*), count(deleted_at), count(out_of_query_since), "
                "count(*) FILTER (WHERE task_updated_at = '2025-02-01T10:00:00Z') "
                "FROM tracker_tasks"
            )
        ).one() == (20, 0, 0, 20)
