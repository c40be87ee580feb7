"""A failing statement is logged with its SQL and parameters, then raised; nothing is poisoned."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from radiator_assets.storage.bulk import copy_rows
from radiator_assets.storage.unit_of_work import (
    REDACTED,
    redact_parameters,
    unit_of_work,
    write_isolating_refusals,
)


def test_a_failing_statement_is_logged_with_sql_and_parameters_and_reraised(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="radiator_assets.sql")
    with pytest.raises(sa.exc.IntegrityError), unit_of_work(engine) as conn:
        conn.execute(
            sa.text("INSERT INTO tracker_tasks (tracker_id, key, full_data) VALUES (:t, :k, NULL)"),
            {"t": "id-1", "k": "CPO-77"},
        )

    message = caplog.records[-1].getMessage()
    assert "INSERT INTO tracker_tasks" in message
    assert "'CPO-77'" in message
    assert "NotNullViolation" in message


def test_the_next_unit_of_work_on_the_same_engine_succeeds(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.ProgrammingError), unit_of_work(engine) as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))

    with unit_of_work(engine) as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM tracker_tasks")) == 0


def test_a_failed_unit_of_work_leaves_none_of_its_writes(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.ProgrammingError), unit_of_work(engine) as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tracker_tasks (tracker_id, key, full_data) VALUES ('a', 'K-1', '{}')"
            )
        )
        conn.execute(sa.text("SELECT * FROM no_such_table"))

    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM tracker_tasks")) == 0


def test_secret_looking_parameters_are_redacted() -> None:
    assert redact_parameters({"token": "s3cr3t", "key": "CPO-1"}) == {
        "token": REDACTED,
        "key": "'CPO-1'",
    }


def test_long_batches_are_shortened_in_the_log() -> None:
    shown = redact_parameters([{"k": i} for i in range(100)])
    assert len(shown) == 6
    assert shown[-1] == "... 95 more"


def test_rows_the_database_refuses_are_isolated_even_through_copy(engine: sa.Engine) -> None:
    # COPY runs on the driver's cursor: its refusals arrive as psycopg2 errors, not SQLAlchemy's.
    def copy(conn: sa.Connection, rows) -> None:
        copy_rows(conn, "refusing", ["n"], ([n] for n in rows))

    with unit_of_work(engine) as conn:
        conn.execute(sa.text("CREATE TABLE refusing (n integer CHECK (n < 10))"))
        refused = write_isolating_refusals(conn, [1, 2, 30, 4], copy)

    assert [(n, reason.split(":")[0]) for n, reason in refused] == [(30, "CheckViolation")]
    with engine.connect() as conn:
        assert list(conn.scalars(sa.text("SELECT n FROM refusing ORDER BY n"))) == [1, 2, 4]
