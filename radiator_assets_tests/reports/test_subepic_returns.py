"""report_subepic_returns on hand-made implementation tasks and epics.

as_of 2025-04-01 00:00 UTC, bundled configuration, subepic_returns.start_date 2025-01-15;
dates 2025 at 00:00 UTC unless said. Q = the queue-local quarter field
`6361307d94f52e42ae308615--quarter`.

Epics (created 2024-12-01, so never rows themselves):
FULLSTACK-100 "Epic Alpha", team Team Epic, prodteam Prod A, Q "Q1 2025".
FULLSTACK-200 "Epic Beta", no team, prodteam Prod B, Q {display "Q2 2025"}.
FULLSTACK-400 "Epic Delta", prodteam Prod Delta only.
FULLSTACK-500 "Epic Moved", earlier key PROJ-5, team Team Moved, Q "Q2 2025".
FULLSTACK-300 and FULLSTACK-600: not in the warehouse, named by links only.

Rows:
FULLSTACK-1  epic 100 (field), 02-03, own team ignored: team Team Epic (the epic's),
             month 2025-01 (FULLSTACK-2 is the epic's earliest row), quarter Q1 2025;
             In Progress 02-04, Testing 02-05, In Progress 02-06, Testing 02-07,
             Done 02-08: in progress 1, testing 1, total 2.
FULLSTACK-2  epic 100, 01-20, no change.
FULLSTACK-4  epic 200, 03-05, prodteam only; Внешний тест 03-06, Review 03-07,
             Внешний тест 03-08, Review 03-09, Внешний тест 03-10, Done 03-11:
             external test 2, review 1, total 3.
FULLSTACK-5  epic 200, 03-12, team Team Five.
FULLSTACK-6  epic 200, 03-10, team Team Six: the earliest created of the epic's rows
             with a team, so epic 200's rows get Team Six; month 2025-03; Q2 2025.
FULLSTACK-7  epic 300 by an outward epic link (after an inward one to FULLSTACK-999),
             02-10, no team fields. FULLSTACK-8: the same epic, 02-20, prodteam Prod
             Eight. Both: team Prod Eight (the first row's product team), title from the
             link "Epic Gamma", month 2025-02, no quarter.
FULLSTACK-9  no epic, created exactly at the start (listed), blank team, prodteam Prod
             Nine, Q "Q3 2025": team Prod Nine, month 2025-01, quarter Q3 2025;
             Testing 01-16, In Progress 01-17, Testing 01-18, Done 01-19: testing 1.
FULLSTACK-10 no epic, 03-20, team Team Ten, prodteam Prod Ten, field `quarter`
             {display Q4 2025} and `abc--quarter` "wrong": the exact id wins.
FULLSTACK-11 epic 400, 02-01, prodteam Prod Own 11: team Prod Delta (the epic's
             product team comes before its rows').
FULLSTACK-13 epic PROJ-5, 02-15: reported as FULLSTACK-500, Epic Moved, Team Moved.
FULLSTACK-15 epic 600 by link "Epic Zeta", 02-25, no team fields anywhere: no team.
Not rows: FULLSTACK-3 (epic 200, 2024-12-20, before the start; its team Early Team and
month would show if it counted), FULLSTACK-12 (created after as_of), FULLSTACK-14
(deleted), CPO-1 (product queue, epic 200, 02-01, team CPO Team).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.metrics.config import (
    MetricsConfig,
    MetricsConfigError,
    StatusConfig,
    SubepicReturns,
    parse_metrics_config,
)
from radiator_assets.metrics.default_config import DEFAULT_CONFIG_YAML
from radiator_assets.metrics.stays import Stay
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.returns import task_workflow_returns
from radiator_assets.reports.subepic_returns import build_subepic_returns
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets.sync.history import build_history
from radiator_assets_tests.locked import locked
from radiator_assets_tests.reports.conftest import rows
from radiator_assets_tests.reports.fixture_ten import d
from radiator_assets_tests.reports.seed import add_task

AS_OF = datetime(2025, 4, 1, tzinfo=UTC)
EPIC_CREATED = datetime(2024, 12, 1, tzinfo=UTC)
Q = "6361307d94f52e42ae308615--quarter"


def epic_link(key: str, display: str, direction: str = "outward") -> dict[str, Any]:
    return {
        "type": {"id": "epic", "inward": "Задача эпика", "outward": "Эпик"},
        "direction": direction,
        "object": {"id": f"id-{key}", "key": key, "display": display},
    }


def set_fields(
    engine: Engine,
    key: str,
    *,
    team: str | None = None,
    prodteam: str | None = None,
    full_data: dict[str, Any] | None = None,
) -> None:
    """The custom fields the sync would have stored for `key`."""
    with unit_of_work(engine) as conn:
        conn.execute(
            sa.text(
                "UPDATE tracker_tasks SET team = :team, prodteam = :prodteam, "
                "full_data = CAST(:data AS jsonb) WHERE key = :key"
            ),
            {"key": key, "team": team, "prodteam": prodteam, "data": json.dumps(full_data or {})},
        )


def seed(engine: Engine) -> None:
    def task(key: str, created: datetime, changes=(), **kw: Any) -> None:
        fields = {f: kw.pop(f) for f in ("team", "prodteam", "full_data") if f in kw}
        add_task(engine, key, created, [(d(w), s) for w, s in changes], initial="Open", **kw)
        set_fields(engine, key, **fields)

    task("FULLSTACK-100", EPIC_CREATED, summary="Epic Alpha", team="Team Epic",
         prodteam="Prod A", full_data={Q: "Q1 2025"})  # fmt: skip
    task("FULLSTACK-200", EPIC_CREATED, summary="Epic Beta", prodteam="Prod B",
         full_data={Q: {"display": "Q2 2025", "key": "q2"}})  # fmt: skip
    task("FULLSTACK-400", EPIC_CREATED, summary="Epic Delta", prodteam="Prod Delta")
    task("FULLSTACK-500", EPIC_CREATED, summary="Epic Moved", aliases=["PROJ-5"],
         team="Team Moved", full_data={Q: "Q2 2025"})  # fmt: skip

    task(
        "FULLSTACK-1",
        d("02-03"),
        [("02-04", "In Progress"), ("02-05", "Testing"), ("02-06", "In Progress"),
         ("02-07", "Testing"), ("02-08", "Done")],
        author="Dev 1", epic_key="FULLSTACK-100", team="Own Team 1",
    )  # fmt: skip
    task("FULLSTACK-2", d("01-20"), author="Dev 2", epic_key="FULLSTACK-100")
    task("FULLSTACK-3", datetime(2024, 12, 20, tzinfo=UTC), epic_key="FULLSTACK-200",
         team="Early Team")  # fmt: skip
    task(
        "FULLSTACK-4",
        d("03-05"),
        [("03-06", "Внешний тест"), ("03-07", "Review"), ("03-08", "Внешний тест"),
         ("03-09", "Review"), ("03-10", "Внешний тест"), ("03-11", "Done")],
        epic_key="FULLSTACK-200", prodteam="Prod Own 4",
    )  # fmt: skip
    task("FULLSTACK-5", d("03-12"), epic_key="FULLSTACK-200", team="Team Five")
    task("FULLSTACK-6", d("03-10"), epic_key="FULLSTACK-200", team="Team Six")
    task("FULLSTACK-7", d("02-10"),
         links=[epic_link("FULLSTACK-999", "Not mine", "inward"),
                epic_link("FULLSTACK-300", "Epic Gamma")])  # fmt: skip
    task("FULLSTACK-8", d("02-20"), links=[epic_link("FULLSTACK-300", "Epic Gamma")],
         prodteam="Prod Eight")  # fmt: skip
    task(
        "FULLSTACK-9",
        d("01-15"),
        [("01-16", "Testing"), ("01-17", "In Progress"), ("01-18", "Testing"), ("01-19", "Done")],
        team="  ", prodteam="Prod Nine", full_data={Q: "Q3 2025"},
    )  # fmt: skip
    task("FULLSTACK-10", d("03-20"), team="Team Ten", prodteam="Prod Ten",
         full_data={"abc--quarter": "wrong", "quarter": {"display": "Q4 2025"}})  # fmt: skip
    task("FULLSTACK-11", d("02-01"), epic_key="FULLSTACK-400", prodteam="Prod Own 11")
    task("FULLSTACK-12", d("04-10"), epic_key="FULLSTACK-100")
    task("FULLSTACK-13", d("02-15"), epic_key="PROJ-5")
    task("FULLSTACK-14", d("02-15"), epic_key="FULLSTACK-100", deleted_at=d("03-01"))
    task("FULLSTACK-15", d("02-25"), links=[epic_link("FULLSTACK-600", "Epic Zeta")])
    task("CPO-1", d("02-01"), epic_key="FULLSTACK-200", team="CPO Team")
    locked(build_history, engine)


def config(start: date) -> MetricsConfig:
    return MetricsConfig.default().model_copy(
        update={"subepic_returns": SubepicReturns(start_date=start)}
    )


@pytest.fixture(scope="module")
def seeded(module_database: Callable[[], Engine]) -> Engine:
    engine = module_database()
    seed(engine)
    return engine


def report(engine: Engine, start: date) -> dict[str, Any]:
    build_subepic_returns(engine, ReportInputs.of(config(start), AS_OF), batch_size=3)
    return {r.task_key: r for r in rows(engine, "SELECT * FROM report_subepic_returns")}


EPIC_100 = ("Team Epic", "FULLSTACK-100", "Epic Alpha", "2025-01", "Q1 2025")
EPIC_200 = ("Team Six", "FULLSTACK-200", "Epic Beta", "2025-03", "Q2 2025")
EPIC_300 = ("Prod Eight", "FULLSTACK-300", "Epic Gamma", "2025-02", None)

#: task -> (team, epic_key, epic_summary, epic_month, epic_quarter), start 2025-01-15
PLACES = {
    "FULLSTACK-1": EPIC_100,
    "FULLSTACK-2": EPIC_100,
    "FULLSTACK-4": EPIC_200,
    "FULLSTACK-5": EPIC_200,
    "FULLSTACK-6": EPIC_200,
    "FULLSTACK-7": EPIC_300,
    "FULLSTACK-8": EPIC_300,
    "FULLSTACK-9": ("Prod Nine", None, None, "2025-01", "Q3 2025"),
    "FULLSTACK-10": ("Team Ten", None, None, "2025-03", "Q4 2025"),
    "FULLSTACK-11": ("Prod Delta", "FULLSTACK-400", "Epic Delta", "2025-02", None),
    "FULLSTACK-13": ("Team Moved", "FULLSTACK-500", "Epic Moved", "2025-02", "Q2 2025"),
    "FULLSTACK-15": (None, "FULLSTACK-600", "Epic Zeta", "2025-02", None),
}
RETURNS = (
    "returns_in_progress",
    "returns_review",
    "returns_testing",
    "returns_external_test",
    "returns_approval",
    "returns_regression",
    "returns_done",
    "returns_total",
)
#: task -> its returns per RETURNS column, when any
COUNTS = {
    "FULLSTACK-1": (1, 0, 1, 0, 0, 0, 0, 2),
    "FULLSTACK-4": (0, 1, 0, 2, 0, 0, 0, 3),
    "FULLSTACK-9": (0, 0, 1, 0, 0, 0, 0, 1),
}


def place(row: Any) -> tuple:
    return (row.team, row.epic_key, row.epic_summary, row.epic_month, row.epic_quarter)


def test_team_epic_month_and_quarter_follow_the_predecessors_rules(seeded):
    got = report(seeded, date(2025, 1, 15))
    assert {key: place(row) for key, row in got.items()} == PLACES


def test_returns_are_counted_per_workflow_status_on_the_raw_history(seeded):
    got = report(seeded, date(2025, 1, 15))
    zero = (0,) * len(RETURNS)
    assert {key: tuple(getattr(row, c) for c in RETURNS) for key, row in got.items()} == {
        key: COUNTS.get(key, zero) for key in PLACES
    }


def test_rows_carry_the_tasks_own_facts(seeded):
    got = report(seeded, date(2025, 1, 15))
    one = got["FULLSTACK-1"]
    assert (one.summary, one.author, one.created, one.current_status) == (
        "Task FULLSTACK-1",
        "Dev 1",
        d("02-03"),
        "Done",
    )
    assert (got["FULLSTACK-2"].author, got["FULLSTACK-2"].current_status) == ("Dev 2", "Open")


def test_a_later_start_date_drops_earlier_tasks_and_their_weight_on_the_epic(seeded):
    got = report(seeded, date(2025, 2, 15))
    assert set(got) == {f"FULLSTACK-{n}" for n in (4, 5, 6, 8, 10, 13, 15)}
    # FULLSTACK-7 (02-10) no longer counts; FULLSTACK-8 alone makes epic 300's values
    assert place(got["FULLSTACK-8"]) == EPIC_300


def test_an_earlier_start_date_lets_earlier_tasks_set_the_epics_team_and_month(seeded):
    got = report(seeded, date(2024, 12, 15))
    # FULLSTACK-3 (2024-12-20, team Early Team) is now the first of epic 200's rows
    assert place(got["FULLSTACK-4"]) == (
        "Early Team",
        "FULLSTACK-200",
        "Epic Beta",
        "2024-12",
        "Q2 2025",
    )
    # the epics themselves (created 2024-12-01) stay out; they are before the start
    assert "FULLSTACK-3" in got and "FULLSTACK-100" not in got


def test_the_build_reports_its_rows_epics_and_start(seeded):
    inputs = ReportInputs.of(config(date(2025, 1, 15)), AS_OF)
    result = build_subepic_returns(seeded, inputs, full=True)
    shown = {k: result.extra[k] for k in ("epics", "start_date")}
    assert (result.rows, shown) == (12, {"epics": 6, "start_date": "2025-01-15"})
    assert (result.extra["build"], result.extra["build_reason"]) == ("full", "forced")
    assert [row["task_key"] for row in result.preview] == [
        "FULLSTACK-4",
        "FULLSTACK-1",
        "FULLSTACK-9",
    ]


def test_the_start_date_comes_from_the_configuration_file():
    def with_start(text: str) -> MetricsConfig:
        return parse_metrics_config(
            DEFAULT_CONFIG_YAML.replace("start_date: 2025-01-01", f"start_date: {text}")
        )

    assert MetricsConfig.default().subepic_returns.start_date == date(2025, 1, 1)
    assert with_start("2025-02-01").subepic_returns.start_date == date(2025, 2, 1)
    with pytest.raises(MetricsConfigError) as error:
        with_start("2025-02-31")
    assert "subepic_returns.start_date" in str(error.value)


#: the predecessor's FULLSTACK statuses, by display name only (as `radiator config import`
#: writes them), and a history through all of them
PREDECESSOR_FULLSTACK = ("Open", "InProgress", "Ревью", "Testing", "Внешний тест", "Апрув",
                         "Регресс-тест", "Done")  # fmt: skip
RUSSIAN_HISTORY = ("Open", "InProgress", "Ревью", "InProgress", "Ревью", "Testing", "Апрув",
                   "Testing", "Апрув", "Регресс-тест", "Testing", "Регресс-тест", "Done",
                   "InProgress", "Done")  # fmt: skip


def daily_stays(statuses: tuple[str, ...]) -> list[Stay]:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    last = len(statuses) - 1
    return [
        Stay(s, start.replace(day=1 + i), start.replace(day=2 + i) if i < last else None)
        for i, s in enumerate(statuses)
    ]


def predecessor_named(config: MetricsConfig) -> MetricsConfig:
    statuses = tuple(StatusConfig(name=name, block="delivery") for name in PREDECESSOR_FULLSTACK)
    return config.model_copy(update={"statuses": statuses})


def test_returns_into_the_predecessors_russian_statuses_are_counted():
    # the predecessor's count_status_returns by exact name: InProgress entered 3 times,
    # Ревью 2, Testing 3, Апрув 2, Регресс-тест 2, Done 2
    inputs = ReportInputs.of(predecessor_named(MetricsConfig.default()), AS_OF)
    assert task_workflow_returns(daily_stays(RUSSIAN_HISTORY), inputs) == {
        "returns_in_progress": 2,
        "returns_review": 1,
        "returns_testing": 2,
        "returns_external_test": 0,
        "returns_approval": 1,
        "returns_regression": 1,
        "returns_done": 1,
    }


def test_the_statuses_of_each_returns_column_come_from_the_configuration_file():
    text = DEFAULT_CONFIG_YAML.replace(
        'review: ["Ревью", "Review"]', 'review: ["Regression"]'
    ).replace('regression: ["Регресс-тест", "Regression"]', 'regression: ["Ревью"]')
    inputs = ReportInputs.of(predecessor_named(parse_metrics_config(text)), AS_OF)
    counts = task_workflow_returns(daily_stays(RUSSIAN_HISTORY), inputs)
    # Ревью now feeds the regression column; Регресс-тест no column
    assert (counts["returns_review"], counts["returns_regression"]) == (0, 1)
    assert sum(counts.values()) == 2 + 1 + 2 + 1 + 1


def test_a_status_counted_by_two_returns_columns_is_refused_with_its_line():
    text = DEFAULT_CONFIG_YAML.replace('done: ["Done"]', 'done: ["Done", "review"]')
    with pytest.raises(MetricsConfigError) as error:
        parse_metrics_config(text)
    line = text.splitlines().index('  done: ["Done", "review"]') + 1
    assert f"line {line}" in str(error.value)
    assert "return_statuses.done[1]: 'review' is already counted by review" in str(error.value)
