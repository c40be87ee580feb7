"""`radiator db upgrade` over a drifted database it cannot fix without inventing values."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from radiator_assets.settings import get_settings
from radiator_assets_tests.cli_env import point_cli_at, run_cli, table_names


def test_an_upgrade_that_would_invent_values_says_so_in_one_line_and_changes_nothing(
    empty_database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = sa.create_engine(empty_database_url, poolclass=sa.NullPool)
    with engine.begin() as conn:  # a hand-made table with rows, lacking NOT NULL columns
        conn.execute(sa.text("CREATE TABLE tracker_tasks (id bigint PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO tracker_tasks VALUES (1), (2)"))
    engine.dispose()
    point_cli_at(monkeypatch, tmp_path, empty_database_url)

    ran = run_cli(capsys, "db", "upgrade")
    get_settings.cache_clear()

    assert ran.code == 1
    (line,) = ran.err_lines
    assert line.startswith("radiator: error: the schema cannot be upgraded: ")
    assert "tracker_tasks" in line
    assert table_names(empty_database_url) == {"tracker_tasks"}  # nothing half-applied


def test_db_check_lists_a_users_own_column_without_failing(
    database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE tracker_tasks ADD COLUMN mine text"))
        conn.execute(sa.text("ALTER TABLE tracker_tasks DROP COLUMN out_of_query_since"))
    point_cli_at(monkeypatch, tmp_path, database_url)

    missing = run_cli(capsys, "db", "check")
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE tracker_tasks ADD COLUMN out_of_query_since timestamptz"))
    extra_only = run_cli(capsys, "db", "check")
    engine.dispose()
    get_settings.cache_clear()

    assert missing.code == 1 and "out_of_query_since" in missing.out
    assert extra_only.code == 0
    assert "the schema matches the models" in extra_only.out
    assert "1 object(s) the models do not know, kept:" in extra_only.out
    assert "mine" in extra_only.out
