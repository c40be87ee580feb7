"""Atomic replacement, CSV export, and the report inputs (pictures: test_pictures.py)."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.reports import export
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.writing import replace_rows
from radiator_assets.storage.report_models import ReportFlowWeekly
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets_tests.reports import fixture_ten

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))


def test_readers_see_the_old_rows_until_the_replacement_commits(engine: Engine):
    table = ReportFlowWeekly.__table__
    columns = [c.name for c in table.columns]
    week = datetime(2025, 1, 6, tzinfo=UTC).date()

    def rows(n: int, team: str) -> list[tuple]:
        return [(week + timedelta(days=7 * i), team, *([1] * (len(columns) - 2))) for i in range(n)]

    with unit_of_work(engine) as conn:
        replace_rows(conn, table, rows(3, "old"))
    seen_during: list[set[str]] = []
    writing = threading.Event()
    release = threading.Event()

    def replace() -> None:
        with unit_of_work(engine) as conn:
            replace_rows(conn, table, rows(5, "new"))
            writing.set()
            release.wait()

    writer = threading.Thread(target=replace)
    writer.start()
    # No deadline (a loaded machine may be slow): wait while the writer is alive.
    try:
        while not writing.wait(0.1):
            assert writer.is_alive(), "the replacement failed before writing"
        with engine.connect() as conn:
            seen_during.append(
                set(conn.scalars(sa.text("SELECT DISTINCT team FROM report_flow_weekly")))
            )
            assert count(engine, "report_flow_weekly") == 3
    finally:
        release.set()
        writer.join()
    assert seen_during == [{"old"}]
    with engine.connect() as conn:
        assert set(conn.scalars(sa.text("SELECT DISTINCT team FROM report_flow_weekly"))) == {"new"}
    assert count(engine, "report_flow_weekly") == 5


def _someone_waits_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
        )


def test_two_builds_of_a_report_at_once_take_turns_instead_of_colliding(engine: Engine):
    table = ReportFlowWeekly.__table__
    columns = [c.name for c in table.columns]
    week = datetime(2025, 1, 6, tzinfo=UTC).date()
    rows = [(week + timedelta(days=7 * i), "team", *([1] * (len(columns) - 2))) for i in range(4)]
    first_writing = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def build(hold: bool) -> None:
        try:
            with unit_of_work(engine) as conn:
                replace_rows(conn, table, rows)
                if hold:
                    first_writing.set()
                    release.wait()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    first = threading.Thread(target=build, args=(True,))
    first.start()
    first_writing.wait()
    second = threading.Thread(target=build, args=(False,))
    second.start()  # would insert the same keys next to the first (UniqueViolation)
    while not _someone_waits_for_a_lock(engine):  # the second is inside its transaction
        assert second.is_alive(), errors
    release.set()
    first.join()
    second.join()

    assert errors == []
    assert count(engine, "report_flow_weekly") == 4


def test_export_writes_csv_with_russian_headers(ten: Engine, tmp_path: Path):
    target = tmp_path / "details.csv"
    args = export.build_parser().parse_args(
        ["ttm_details", "--format", "csv", "--headers", "ru", "--output", str(target)]
    )
    assert export.run(args, engine=ten) == 0
    table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    header, body = table[0], table[1:]
    assert header[:3] == ["Ключ задачи", "Название", "Автор"]
    assert "Всего возвратов" in header and "TTM" in header
    first = dict(zip(header, body[0], strict=True))
    assert (first["Ключ задачи"], first["TTM"], first["Пауза"]) == ("CPO-1", "20", "4")
    assert (first["Завершена"], first["Tail"]) == ("Да", "5")
    assert first["Дата завершения"] == "2025-01-25T00:00:00+00:00"
    assert len(body) == 6


def test_export_main_writes_english_headers_to_stdout(app_env, capsys):
    # app_env points the app at an empty database of its own: the header still comes out
    assert export.main(["export", "report_flow_weekly"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("week_start,team,arrivals,throughput,wip")


def test_export_rejects_an_unknown_report(capsys):
    assert export.main(["no_such_report"]) == 2
    assert "ttm_details" in capsys.readouterr().err


def test_report_inputs_use_the_configuration_itself():
    # the configuration's own look-ups are memoised: the reports need no wrapper
    config = fixture_ten.config()
    inputs = ReportInputs.of(config, datetime(2025, 3, 1, 12, tzinfo=timezone(timedelta(hours=3))))
    assert inputs.config is config
    assert inputs.as_of == datetime(2025, 3, 1, 9, tzinfo=UTC)
    assert [inputs.config.block(s) for s in ("Приостановлено", "paused", "Открыт", "??")] == [
        "pause",
        "pause",
        "backlog",
        "discovery",
    ]
