"""Time in status, wide form (`radiator export time_in_status --wide`), on hand-made tasks.

as_of 2025-04-01 00:00 UTC, the bundled configuration; all dates 2025, 00:00 UTC.

CPO-1       created 01-01 Открыт, Discovery backlog 01-03, Приостановлено 01-06,
            Discovery backlog 01-09, В работе 01-12 (open): Открыт 2, Discovery
            backlog 3+3 = 6 (the spec's example), Приостановлено 3, В работе 79 (open).
CPO-2       created 02-10 Открыт, Готова к разработке 02-10 12:00, Выполнено 02-15:
            Открыт 0 (half a day), Готова к разработке 4, Выполнено 45 (open).
FULLSTACK-1 created 01-20 Open, In Progress 01-21, testing 01-23 (the status key),
            In Progress 01-24, Testing 01-25, Ждёт деплоя 01-27 (not configured),
            Done 01-30: Open 1, In Progress 2+1 = 3, Testing 1+2 = 3 (both spellings
            in one column), Ждёт деплоя 3, Done 61 (open).
FULLSTACK-2 created 03-01 Open, no change: Open 31.
OTHER-1     created 02-01 Open, Zeta 02-02 (not configured), Done 02-05: Open 1,
            Zeta 3, Done 55.
CPO-3       created 04-05, after as_of: not in the report.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.reports import export
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.time_in_status import build_time_in_status
from radiator_assets.reports.time_in_status_wide import (
    WideSelection,
    status_columns,
    write_wide_csv,
)
from radiator_assets.sync.history import build_history
from radiator_assets_tests.locked import locked
from radiator_assets_tests.reports.fixture_ten import d
from radiator_assets_tests.reports.seed import add_task

AS_OF = datetime(2025, 4, 1, tzinfo=UTC)
FIXED = ["task_key", "summary", "current_status", "created", "last_change"]

ROWS = {
    "CPO-1": ["CPO-1", "Task CPO-1", "В работе", "2025-01-01", "2025-01-12"],
    "CPO-2": ["CPO-2", "Task CPO-2", "Выполнено", "2025-02-10", "2025-02-15"],
    "FULLSTACK-1": ["FULLSTACK-1", "Task FULLSTACK-1", "Done", "2025-01-20", "2025-01-30"],
    "FULLSTACK-2": ["FULLSTACK-2", "Task FULLSTACK-2", "Open", "2025-03-01", "2025-03-01"],
    "OTHER-1": ["OTHER-1", "Task OTHER-1", "Done", "2025-02-01", "2025-02-05"],
}
#: status -> task -> days (a task absent: never in the status, an empty cell)
DAYS = {
    "Открыт": {"CPO-1": 2, "CPO-2": 0},
    "Discovery backlog": {"CPO-1": 6},
    "В работе": {"CPO-1": 79},
    "Готова к разработке": {"CPO-2": 4},
    "Выполнено": {"CPO-2": 45},
    "Приостановлено": {"CPO-1": 3},
    "Open": {"FULLSTACK-1": 1, "FULLSTACK-2": 31, "OTHER-1": 1},
    "In Progress": {"FULLSTACK-1": 3},
    "Testing": {"FULLSTACK-1": 3},
    "Done": {"FULLSTACK-1": 61, "OTHER-1": 55},
    "Zeta": {"OTHER-1": 3},
    "Ждёт деплоя": {"FULLSTACK-1": 3},
}


def seed(engine: Engine) -> None:
    def task(key: str, created: str, changes: list[tuple[str, str]], initial: str) -> None:
        add_task(engine, key, d(created), [(d(w), s) for w, s in changes], initial=initial)

    task(
        "CPO-1",
        "01-01",
        [
            ("01-03", "Discovery backlog"),
            ("01-06", "Приостановлено"),
            ("01-09", "Discovery backlog"),
            ("01-12", "В работе"),
        ],
        "Открыт",
    )
    task(
        "CPO-2", "02-10", [("02-10 12:00", "Готова к разработке"), ("02-15", "Выполнено")], "Открыт"
    )
    task("CPO-3", "04-05", [("04-06", "В работе")], "Открыт")
    task(
        "FULLSTACK-1",
        "01-20",
        [
            ("01-21", "In Progress"),
            ("01-23", "testing"),
            ("01-24", "In Progress"),
            ("01-25", "Testing"),
            ("01-27", "Ждёт деплоя"),
            ("01-30", "Done"),
        ],
        "Open",
    )
    task("FULLSTACK-2", "03-01", [], "Open")
    task("OTHER-1", "02-01", [("02-02", "Zeta"), ("02-05", "Done")], "Open")
    locked(build_history, engine)


@pytest.fixture(scope="module")
def wide_db(module_database: Callable[[], Engine]) -> Engine:
    engine = module_database()
    seed(engine)
    build_time_in_status(engine, ReportInputs.of(MetricsConfig.default(), AS_OF))
    return engine


def export_wide(engine: Engine, selection: WideSelection, headers: str = "en") -> list[list[str]]:
    out = io.StringIO()
    count = write_wide_csv(engine, MetricsConfig.default(), out, selection, headers=headers)
    lines = [line.split(",") for line in out.getvalue().splitlines()]
    assert count == len(lines) - 1
    return lines


def expected(keys: list[str], statuses: list[str]) -> list[list[str]]:
    """The CSV the spec's arithmetic (module docstring) gives for `keys` and `statuses`."""
    header = [*FIXED, *statuses]
    body = [
        [*ROWS[key], *(str(DAYS[s][key]) if key in DAYS[s] else "" for s in statuses)]
        for key in keys
    ]
    return [header, *body]


def test_every_task_one_row_every_status_met_one_column_in_the_status_file_order(wide_db):
    got = export_wide(wide_db, WideSelection())
    # configured statuses in the file's order, then the unknown ones by name
    statuses = [
        "Открыт",
        "Discovery backlog",
        "В работе",
        "Готова к разработке",
        "Выполнено",
        "Приостановлено",
        "Open",
        "In Progress",
        "Testing",
        "Done",
        "Zeta",
        "Ждёт деплоя",
    ]
    assert got == expected(["CPO-1", "CPO-2", "FULLSTACK-1", "FULLSTACK-2", "OTHER-1"], statuses)
    # spot checks of the arithmetic the helper encodes
    assert got[1][FIXED.index("last_change")] == "2025-01-12"
    assert got[1][len(FIXED) + statuses.index("Discovery backlog")] == "6"
    assert got[2][len(FIXED) + statuses.index("Открыт")] == "0"  # in it, under a day
    assert got[2][len(FIXED) + statuses.index("Discovery backlog")] == ""  # never in it


def test_queue_filter_keeps_the_queue_rows_and_their_statuses(wide_db):
    got = export_wide(wide_db, WideSelection(queues=("cpo",)))
    statuses = [
        "Открыт",
        "Discovery backlog",
        "В работе",
        "Готова к разработке",
        "Выполнено",
        "Приостановлено",
    ]
    assert got == expected(["CPO-1", "CPO-2"], statuses)


def test_created_since_keeps_tasks_created_on_or_after_that_day(wide_db):
    got = export_wide(wide_db, WideSelection(created_since=date(2025, 2, 1)))
    statuses = ["Открыт", "Готова к разработке", "Выполнено", "Open", "Done", "Zeta"]
    assert got == expected(["CPO-2", "FULLSTACK-2", "OTHER-1"], statuses)


def test_filters_combine_and_queues_repeat(wide_db):
    got = export_wide(
        wide_db, WideSelection(queues=("FULLSTACK", "Other"), created_since=date(2025, 1, 25))
    )
    assert got == expected(["FULLSTACK-2", "OTHER-1"], ["Open", "Done", "Zeta"])


def test_no_task_selected_gives_the_header_only(wide_db):
    got = export_wide(wide_db, WideSelection(queues=("CPO",), created_since=date(2025, 3, 1)))
    assert got == [FIXED]


def test_russian_headers_are_the_predecessors(wide_db):
    header = export_wide(wide_db, WideSelection(queues=("CPO",)), headers="ru")[0]
    assert header[:5] == [
        "Ключ задачи",
        "Название",
        "Текущий статус",
        "Дата создания",
        "Дата последнего изменения статуса",
    ]
    assert header[5:7] == ["Открыт", "Discovery backlog"]


def test_spellings_of_one_configured_status_share_its_column():
    columns = status_columns(
        ["zeta", "testing", "Zeta", "TESTING ", "Открыт"], MetricsConfig.default()
    )
    assert [(c.name, c.spellings) for c in columns] == [
        ("Открыт", ("Открыт",)),
        ("Testing", ("TESTING ", "testing")),
        ("Zeta", ("Zeta", "zeta")),
    ]


def put_long_rows(engine: Engine, rows: list[tuple[str, str, int]]) -> None:
    """report_time_in_status rows (task, status, days) of CPO tasks, no warehouse rows."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO report_time_in_status (task_key, status, queue, status_block, "
                "days, current_days, entries, is_current, current_status, last_change) "
                "VALUES (:key, :status, 'CPO', 'discovery', :days, 0, 1, false, 'Open', "
                "'2025-03-01T00:00:00Z')"
            ),
            [{"key": key, "status": status, "days": days} for key, status, days in rows],
        )


def test_rows_sort_naturally_and_a_status_named_like_a_fixed_column_gets_a_suffix(
    engine: Engine,
):
    put_long_rows(
        engine,
        [
            ("CPO-10", "summary", 7),
            ("CPO-2", "Название", 1),
            ("CPO-100", "Open", 2),
            ("CPO-1", "Created", 3),
            ("CPO", "summary (status)", 4),
            ("CPO-9", "Open", 5),
        ],
    )
    got = export_wide(engine, WideSelection())
    assert got[0] == [
        *FIXED,
        "Open",
        "Created (status)",
        "summary (status)",
        "summary (status) (status)",
        "Название",
    ]
    assert [row[0] for row in got[1:]] == ["CPO", "CPO-1", "CPO-2", "CPO-9", "CPO-10", "CPO-100"]
    assert got[5][5:] == ["", "", "7", "", ""]  # CPO-10's 7 days in `summary`
    russian = export_wide(engine, WideSelection(), headers="ru")[0]
    assert russian[5:] == [
        "Open",
        "Created",
        "summary",
        "summary (status)",
        "Название (статус)",
    ]
    assert len(set(russian)) == len(russian) == 10


# --------------------------------------------------------------------------- command line


def args(*argv: str) -> argparse.Namespace:
    return export.build_parser().parse_args(list(argv))


def test_the_export_command_writes_the_wide_form(
    wide_db, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RADIATOR_CONFIG", str(tmp_path / "absent.yaml"))  # the bundled one
    target = tmp_path / "wide.csv"
    code = export.run(
        args("time_in_status", "--wide", "--queue", "CPO", "--output", str(target)), wide_db
    )
    assert code == 0
    lines = [line.split(",") for line in target.read_text(encoding="utf-8").splitlines()]
    assert [line[0] for line in lines] == ["task_key", "CPO-1", "CPO-2"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ttm_details", "--wide"], "--wide is for time_in_status"),
        (["time_in_status", "--queue", "CPO"], "go with --wide"),
        (["time_in_status", "--created-since", "2025-01-01"], "go with --wide"),
        (["time_in_status", "--wide", "--created-since", "01.02.2025"], "not a day"),
    ],
)
def test_flags_that_do_not_fit_are_refused_before_any_output(
    argv, message, wide_db, tmp_path, capsys: pytest.CaptureFixture[str]
):
    target = tmp_path / "never.csv"
    assert export.run(args(*argv, "--output", str(target)), wide_db) == 2
    assert message in capsys.readouterr().err
    assert not target.exists()
