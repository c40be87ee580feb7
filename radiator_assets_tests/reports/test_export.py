"""`radiator export`: Russian labels on the columns, `--headers ru` values and BOM, natural
key order, and `--compat radiator` byte for byte against the predecessor's file."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.reports import export
from radiator_assets.reports.writing import replace_rows
from radiator_assets.storage.report_models import REPORT_TABLES, ReportTtmDetails
from radiator_assets.storage.unit_of_work import unit_of_work

BOM = b"\xef\xbb\xbf"

# The predecessor's header line, written by hand from TTMDetailsColumns.COLUMN_NAMES
# (models/ttm_details_columns.py) followed by the two keys its _format_task_row adds;
# csv.DictWriter's default dialect ends lines with CRLF.
RADIATOR_HEADER = (
    "Ключ задачи,Название,Автор,Команда,PM Lead,Квартал,TTM,Пауза,Tail,DevLT,TTD,TTD Pause,"
    "Discovery backlog (дни),Готова к разработке (дни),Возвраты с Testing,"
    "Возвраты с Внешний тест,Всего возвратов,Квартал TTD,Создана,Начало работы,Завершено,"
    "Разработка,Завершена,Статус,Группа статусов\r\n"
).encode()


def export_bytes(engine: Engine, tmp_path: Path, *argv: str) -> bytes:
    target = tmp_path / "out.csv"
    args = export.build_parser().parse_args([*argv, "--output", str(target)])
    assert export.run(args, engine=engine) == 0
    return target.read_bytes()


def export_table(engine: Engine, tmp_path: Path, *argv: str) -> list[dict[str, str]]:
    text = export_bytes(engine, tmp_path, *argv).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def details_row(key: str, **values: Any) -> dict[str, Any]:
    """A report_ttm_details row with every NOT NULL column filled."""
    row: dict[str, Any] = {
        "task_key": key,
        "team": "Team",
        "lead": "Lead",
        "pause": 0,
        "discovery_backlog_days": 0,
        "ready_for_dev_days": 0,
        "returns_testing": 0,
        "returns_external_test": 0,
        "returns_total": 0,
        "created": datetime(2025, 1, 1, tzinfo=UTC),
        "went_through_development": False,
        "finished": False,
    }
    return row | values


def put_details(engine: Engine, rows: list[dict[str, Any]]) -> None:
    table = ReportTtmDetails.__table__
    columns = [c.name for c in table.columns]
    with unit_of_work(engine) as conn:
        replace_rows(conn, table, [[r.get(c) for c in columns] for r in rows])


# --------------------------------------------------------------------------- labels


def test_every_report_column_has_a_russian_label_of_its_own():
    for name, table in REPORT_TABLES.items():
        labels = [column.info.get("ru") for column in table.columns]
        unlabelled = [c.name for c, label in zip(table.columns, labels, strict=True) if not label]
        assert unlabelled == [], name
        assert len(set(labels)) == len(labels), name
    assert export.header_ru(REPORT_TABLES["report_ttm_details"], "ttd_pause") == "Пауза TTD"


# --------------------------------------------------------------------------- --headers ru


def test_russian_headers_translate_booleans_and_status_blocks(ten: Engine, tmp_path: Path):
    rows = {
        r["Ключ задачи"]: r for r in export_table(ten, tmp_path, "ttm_details", "--headers", "ru")
    }
    finished, reopened = rows["CPO-1"], rows["CPO-2"]
    assert (finished["Завершена"], finished["Прошла разработку"], finished["Блок статуса"]) == (
        "Да",
        "Да",
        "Готово",
    )
    assert (reopened["Завершена"], reopened["Блок статуса"], reopened["TTM"]) == (
        "Нет",
        "Деливери",
        "89",
    )
    assert finished["Дата завершения"] == "2025-01-25T00:00:00+00:00"


def test_russian_headers_translate_dimensions_and_scopes(ten: Engine, tmp_path: Path):
    summary = export_table(ten, tmp_path, "ttm_summary", "--headers", "ru")
    assert {r["Разрез"] for r in summary} == {"Команда", "Лид"}
    activity = export_table(ten, tmp_path, "status_activity", "--headers", "ru")
    assert {r["Разрез"] for r in activity} == {"Автор", "Команда"}
    returns = export_table(ten, tmp_path, "testing_returns", "--headers", "ru")
    assert {r["Уровень"] for r in returns} == {"Задача", "Эпик"}
    aging = export_table(ten, tmp_path, "aging_wip", "--headers", "ru")
    assert {r["Ключ задачи"]: r["Блок статуса"] for r in aging}["CPO-8"] == "Дискавери"


@pytest.mark.parametrize(
    ("argv", "bom"),
    [
        (["--headers", "ru"], True),
        (["--headers", "ru", "--no-bom"], False),
        ([], False),
        (["--headers", "en", "--bom"], True),
        (["--compat", "radiator"], False),
    ],
)
def test_a_bom_starts_russian_exports_unless_turned_off(
    ten: Engine, tmp_path: Path, argv: list[str], bom: bool
):
    data = export_bytes(ten, tmp_path, "ttm_details", *argv)
    assert data.startswith(BOM) is bom
    assert data.count(BOM) == int(bom)


# --------------------------------------------------------------------------- order


def test_task_keys_sort_naturally(engine: Engine, tmp_path: Path):
    keys = ["CPO-10", "CPO-2", "FULLSTACK-3", "CPO-100", "CPO-1", "CPO", "CPO-9"]
    put_details(engine, [details_row(k) for k in keys])
    rows = export_table(engine, tmp_path, "ttm_details")
    assert [r["task_key"] for r in rows] == [
        "CPO",
        "CPO-1",
        "CPO-2",
        "CPO-9",
        "CPO-10",
        "CPO-100",
        "FULLSTACK-3",
    ]


def test_composite_keys_sort_naturally_after_the_leading_column(ten: Engine, tmp_path: Path):
    rows = export_table(ten, tmp_path, "time_in_status")
    keys = list(dict.fromkeys(r["task_key"] for r in rows))
    assert keys[:8] == [f"CPO-{i}" for i in range(1, 9)]


# --------------------------------------------------------------------------- --compat radiator


def test_compat_radiator_writes_the_predecessors_header_and_rows(ten: Engine, tmp_path: Path):
    lines = export_bytes(ten, tmp_path, "ttm_details", "--compat", "radiator").split(b"\r\n")
    assert lines[0] + b"\r\n" == RADIATOR_HEADER
    # finished first (its first pass), then unfinished (its second), natural key order
    assert [line.split(b",")[0] for line in lines[1:-1]] == [
        b"CPO-1",
        b"CPO-3",
        b"CPO-4",
        b"CPO-2",
        b"CPO-5",
        b"CPO-7",
    ]
    assert (
        lines[1]
        == (
            "CPO-1,Task CPO-1,Author 1,Team Alpha,Lead A,Q1 2025,20,4,5,10,5,2,3,2,0,0,0,Q1 2025,"
            "2025-01-01,2025-01-08,2025-01-25,1,1,Выполнено,done"
        ).encode()
    )
    # unfinished: no period, no completion, empty cells for missing values, flags 1/0
    assert (
        lines[4]
        == (
            "CPO-2,Task CPO-2,Author 3,Team Beta,Lead B,,89,0,,13,3,0,0,2,0,0,0,Q1 2025,"
            "2025-01-02,,,1,0,МП / В работе,delivery"
        ).encode()
    )
    assert lines[-1] == b""


def test_compat_radiator_quotes_like_csv_dictwriter_and_leaves_missing_values_empty(
    engine: Engine, tmp_path: Path
):
    put_details(
        engine,
        [
            details_row(
                "CPO-7",
                summary='Поиск, "быстрый"',
                author=None,
                ttm=12,
                created=datetime(2025, 3, 31, 23, 30, tzinfo=UTC),
            )
        ],
    )
    data = export_bytes(engine, tmp_path, "ttm_details", "--compat", "radiator")
    assert (
        data
        == RADIATOR_HEADER
        + (
            'CPO-7,"Поиск, ""быстрый""",,Team,Lead,,12,0,,,,,0,0,0,0,0,,2025-03-31,,,0,0,,\r\n'
        ).encode()
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["flow_weekly", "--compat", "radiator"], "only for ttm_details"),
        (["ttm_details", "--compat", "radiator", "--headers", "ru"], "drop --headers"),
        (["ttm_details", "--compat", "radiator", "--bom"], "drop --bom"),
        (["ttm_details", "--compat", "radiator", "--delimiter", ";"], "drop --delimiter"),
    ],
)
def test_compat_radiator_refuses_what_the_predecessor_never_wrote(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
):
    assert export.main(argv) == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- --output


def test_a_failed_export_leaves_the_existing_file_as_it_was(
    ten: Engine, pg_server_url: sa.URL, tmp_path: Path
):
    good = export_bytes(ten, tmp_path, "ttm_details")
    target = tmp_path / "out.csv"
    unreachable = sa.create_engine(pg_server_url.set(database="radiator_no_such_database"))
    args = export.build_parser().parse_args(["ttm_details", "--output", str(target)])
    with pytest.raises(sa.exc.OperationalError):
        export.run(args, engine=unreachable)
    assert target.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_an_export_failing_mid_way_leaves_no_partial_file(
    ten: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    good = export_bytes(ten, tmp_path, "ttm_details")

    def fail_after_the_header(engine: Engine, layout: Any, out: Any, **_: Any) -> int:
        out.write("task_key\nCPO-1\n")
        raise RuntimeError("connection lost")

    monkeypatch.setattr(export, "write_csv", fail_after_the_header)
    args = export.build_parser().parse_args(["ttm_details", "-o", str(tmp_path / "out.csv")])
    with pytest.raises(RuntimeError, match="connection lost"):
        export.run(args, engine=ten)
    assert (tmp_path / "out.csv").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_an_export_to_a_new_file_gets_the_usual_permissions(ten: Engine, tmp_path: Path):
    umask = os.umask(0o022)
    try:
        export_bytes(ten, tmp_path, "ttm_details")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o644


# --------------------------------------------------------------------------- standard output


def export_stdout_in_a_cp1251_console(engine: Engine, tmp_path: Path, *argv: str) -> bytes:
    """`radiator export ...` to standard output in a fresh process whose console is cp1251."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "RADIATOR_"))}
    ran = subprocess.run(
        [sys.executable, "-m", "radiator_assets.cli", "export", *argv],
        env=clean
        | {
            "RADIATOR_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "RADIATOR_HOME": str(tmp_path / "home"),
            "PYTHONIOENCODING": "cp1251",
            "LC_ALL": "C",
        },
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr.decode(errors="replace")
    return ran.stdout


@pytest.mark.parametrize(
    "argv",
    [["ttm_details", "--compat", "radiator"], ["ttm_details", "--headers", "ru"]],
)
def test_standard_output_is_utf8_whatever_the_consoles_encoding(
    ten: Engine, tmp_path: Path, argv: list[str]
):
    written = export_stdout_in_a_cp1251_console(ten, tmp_path, *argv)
    assert written == export_bytes(ten, tmp_path, *argv)
    assert written.count(BOM) == int("ru" in argv)
    assert written.decode("utf-8-sig").startswith("Ключ задачи,")
