"""Google Sheets publishing against the loopback fake: the exact requests for the ten
hand-checked tasks, the retry of a 429, and a failure that leaves the reports alone."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.assets.delivery import google_sheets_reports
from radiator_assets.automation.delivery_sensors import google_sheets_job
from radiator_assets.automation.jobs import tracker_sync_job
from radiator_assets.automation.report_schedules import reports_job
from radiator_assets.delivery.deliver import sheet_contents
from radiator_assets.delivery.retry import RetryPolicy
from radiator_assets.delivery.sheets import (
    OVER_THRESHOLD_COLOR,
    PivotSheet,
    bold_row,
    summary_by_team,
)
from radiator_assets.delivery.sheets_api import (
    Published,
    PublishError,
    SheetsError,
    SheetsPublisher,
    publish,
    sheets_service,
)
from radiator_assets.metrics.config import MetricsConfig
from radiator_assets.resources import GoogleSheetsResource, TrackerResource, WarehouseResource
from radiator_assets.storage.report_models import REPORT_TABLES
from radiator_assets_tests.delivery.conftest import SPREADSHEET_ID, WEB_URL
from radiator_assets_tests.delivery.fakes import Answer, FakeSheets
from radiator_assets_tests.reports import fixture_ten

DETAILS = REPORT_TABLES["report_ttm_details"]
COLUMNS = [c.name for c in DETAILS.columns]


STARTED = datetime(2026, 11, 30, 4, 5, 6, tzinfo=UTC)
BUILDING = "ttm_details (building 20261130T040506Z run1)"


def publisher(
    fake: FakeSheets, credentials: Path, sleeps: list[float], run_id: str = "run1"
) -> SheetsPublisher:
    return SheetsPublisher(
        sheets_service(credentials, f"{fake.url}/"),
        SPREADSHEET_ID,
        chunk_rows=4,
        policy=RetryPolicy(attempts=3, max_wait_seconds=60),
        sleep=sleeps.append,
        clock=lambda: STARTED,
        run_id=run_id,
    )


def over(sheet_id: int, column: str, threshold: int, rows: int) -> dict:
    index = COLUMNS.index(column)
    return {
        "addConditionalFormatRule": {
            "rule": {
                "ranges": [
                    {
                        "sheetId": sheet_id,
                        "startRowIndex": 1,
                        "endRowIndex": rows,
                        "startColumnIndex": index,
                        "endColumnIndex": index + 1,
                    }
                ],
                "booleanRule": {
                    "condition": {
                        "type": "NUMBER_GREATER",
                        "values": [{"userEnteredValue": str(threshold)}],
                    },
                    "format": {"backgroundColor": OVER_THRESHOLD_COLOR},
                },
            },
            "index": 0,
        }
    }


def details_formatting(sheet_id: int, rows: int) -> list[dict]:
    """The details sheet's header, filter, thresholds and date formats, in column order."""
    date_time = {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}

    def fmt(column: str) -> dict:
        index = COLUMNS.index(column)
        return {
            "repeatCell": {
                "range": {
                    "sheetId": sheet_id,
                    "startRowIndex": 1,
                    "endRowIndex": rows,
                    "startColumnIndex": index,
                    "endColumnIndex": index + 1,
                },
                "cell": {"userEnteredFormat": {"numberFormat": date_time}},
                "fields": "userEnteredFormat.numberFormat",
            }
        }

    width = len(COLUMNS)
    whole = {
        "sheetId": sheet_id,
        "startRowIndex": 0,
        "startColumnIndex": 0,
        "endColumnIndex": width,
    }
    requests = [
        {
            "repeatCell": {
                "range": {**whole, "endRowIndex": 1},
                "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                "fields": "userEnteredFormat.textFormat.bold",
            }
        },
        {"setBasicFilter": {"filter": {"range": {**whole, "endRowIndex": rows}}}},
    ]
    # fixture_ten's thresholds: ttm 30, ttd 8, tail 6, devlt 15
    by_column = {
        "ttm": over(sheet_id, "ttm", 30, rows),
        "tail": over(sheet_id, "tail", 6, rows),
        "devlt": over(sheet_id, "devlt", 15, rows),
        "ttd": over(sheet_id, "ttd", 8, rows),
        "created": fmt("created"),
        "work_started": fmt("work_started"),
        "completed": fmt("completed"),
    }
    return requests + [by_column[c] for c in COLUMNS if c in by_column]


def test_details_sheet_is_built_hidden_then_pasted_over_the_old_one_in_one_batch(
    ten: Engine, fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    contents = sheet_contents(ten, fixture_ten.config(), "ttm_details", WEB_URL)[:1]
    fake_sheets.rules[7] = [{"ranges": [{"sheetId": 7}]}] * 2  # the last publish's rules
    sleeps: list[float] = []

    [done] = publish(publisher(fake_sheets, service_account_file, sleeps), contents)

    # details as of AS_OF: CPO-1, 2, 3, 4, 5, 7 (6 rows + header = 7 rows, in chunks of 4);
    # the sheet keeps its id 7: links to #gid=7 stay good
    assert (done.title, done.sheet_id, done.rows) == ("ttm_details", 7, 6)
    assert done.url == f"https://docs.google.com/spreadsheets/d/{SPREADSHEET_ID}/edit#gid=7"
    calls = fake_sheets.api_calls()
    get, batch = (
        f"/v4/spreadsheets/{SPREADSHEET_ID}",
        f"/v4/spreadsheets/{SPREADSHEET_ID}:batchUpdate",
    )
    assert [(c.method, c.path.split("?")[0]) for c in calls] == [
        ("GET", get),
        *[("POST", batch)] * 3,
        ("GET", get),  # the sheet's rules just before the swap
        ("POST", batch),
    ]
    add, first, second, swap = fake_sheets.batch_updates()
    assert add == [
        {
            "addSheet": {
                "properties": {
                    "title": BUILDING,
                    "hidden": True,
                    "gridProperties": {"rowCount": 2, "columnCount": len(COLUMNS)},
                }
            }
        }
    ]
    rows = first[0]["appendCells"]["rows"] + second[0]["appendCells"]["rows"]
    assert [len(first[0]["appendCells"]["rows"]), len(second[0]["appendCells"]["rows"])] == [4, 3]
    assert first[0]["appendCells"]["sheetId"] == 1001
    header = [c["userEnteredValue"]["stringValue"] for c in rows[0]["values"]]
    assert header[:3] == ["Ключ задачи", "Название", "Автор"]
    cpo1 = dict(zip(COLUMNS, rows[1]["values"], strict=True))
    assert cpo1["task_key"] == {
        "userEnteredValue": {"stringValue": "CPO-1"},
        "userEnteredFormat": {"textFormat": {"link": {"uri": "https://tracker.example/CPO-1"}}},
    }
    assert cpo1["ttm"] == {"userEnteredValue": {"numberValue": 20}}
    assert cpo1["ttd"] == {"userEnteredValue": {"numberValue": 5}}
    # 2025-01-25 00:00 UTC is day 45682 of Sheets' calendar (1899-12-30 is day 0)
    assert cpo1["completed"] == {"userEnteredValue": {"numberValue": 45682.0}}
    assert cpo1["finished"] == {"userEnteredValue": {"boolValue": True}}
    cpo2 = dict(zip(COLUMNS, rows[2]["values"], strict=True))
    assert (cpo2["task_key"]["userEnteredValue"], cpo2["tail"]) == ({"stringValue": "CPO-2"}, {})

    width = len(COLUMNS)
    block = {"startRowIndex": 0, "endRowIndex": 7, "startColumnIndex": 0, "endColumnIndex": width}
    assert swap == [
        {"deleteConditionalFormatRule": {"sheetId": 7, "index": 0}},
        {"deleteConditionalFormatRule": {"sheetId": 7, "index": 0}},
        {
            "updateSheetProperties": {
                "properties": {
                    "sheetId": 7,
                    "gridProperties": {"rowCount": 7, "columnCount": width, "frozenRowCount": 1},
                },
                "fields": "gridProperties.rowCount,gridProperties.columnCount,"
                "gridProperties.frozenRowCount",
            }
        },
        {
            "copyPaste": {
                "source": {"sheetId": 1001, **block},
                "destination": {"sheetId": 7, **block},
                "pasteType": "PASTE_NORMAL",
                "pasteOrientation": "NORMAL",
            }
        },
        *details_formatting(7, 7),
        {"deleteSheet": {"sheetId": 1001}},
    ]
    assert [(s["title"], s["sheetId"]) for s in fake_sheets.sheets] == [
        ("readme", 0),
        ("ttm_details", 7),
    ]
    assert fake_sheets.rows[7] == rows
    assert len(fake_sheets.rules[7]) == 4  # TTM, TTD, Tail, DevLT; the old two are gone
    assert sleeps == []


def test_a_first_publish_shows_the_building_sheet_under_the_reports_title(
    ten: Engine, fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    fake_sheets.sheets = [s for s in fake_sheets.sheets if s["title"] != "ttm_details"]
    contents = sheet_contents(ten, fixture_ten.config(), "ttm_details", WEB_URL)[:1]

    [done] = publish(publisher(fake_sheets, service_account_file, []), contents)

    assert (done.sheet_id, done.rows) == (1001, 6)
    swap = fake_sheets.batch_updates()[-1]
    assert swap == [
        {
            "updateSheetProperties": {
                "properties": {
                    "sheetId": 1001,
                    "title": "ttm_details",
                    "hidden": False,
                    "gridProperties": {"frozenRowCount": 1},
                },
                "fields": "title,hidden,gridProperties.frozenRowCount",
            }
        },
        *details_formatting(1001, 7),
    ]
    assert [(s["title"], s["sheetId"], s["hidden"]) for s in fake_sheets.sheets[1:]] == [
        ("ttm_details", 1001, False)
    ]


def test_the_sheet_id_stays_and_rules_do_not_pile_up_over_publishes(
    ten: Engine, fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    contents = sheet_contents(ten, fixture_ten.config(), "ttm_details", WEB_URL)[:1]

    urls = [
        publish(publisher(fake_sheets, service_account_file, [], f"run{n}"), contents)[0].url
        for n in range(3)
    ]

    assert urls == [f"https://docs.google.com/spreadsheets/d/{SPREADSHEET_ID}/edit#gid=7"] * 3
    assert [s["title"] for s in fake_sheets.sheets] == ["readme", "ttm_details"]
    assert len(fake_sheets.rules[7]) == 4
    assert fake_sheets.sheet("ttm_details")["gridProperties"]["rowCount"] == 7


def test_overlapping_publishes_both_succeed(
    ten: Engine, fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    contents = sheet_contents(ten, fixture_ten.config(), "ttm_details", WEB_URL)[:1]
    other: list[list[Published]] = []

    class InterruptedOnce(SheetsPublisher):
        """Run A: while it appends its first chunk, run B publishes the same sheet."""

        def batch_update(self, what: str, requests: Sequence[dict]) -> dict:
            if what.startswith("append") and not other:
                other.append(
                    publish(publisher(fake_sheets, service_account_file, [], "b"), contents)
                )
            return super().batch_update(what, requests)

    run_a = publisher(fake_sheets, service_account_file, [], "a")
    run_a.__class__ = InterruptedOnce

    [done] = publish(run_a, contents)

    assert [p.sheet_id for p in other[0]] == [7] and done.sheet_id == 7
    assert [s["title"] for s in fake_sheets.sheets] == ["readme", "ttm_details"]
    assert len(fake_sheets.rules[7]) == 4


def test_an_abandoned_building_sheet_is_deleted_an_hour_later(
    ten: Engine, fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    left = {"hidden": True, "gridProperties": {"rowCount": 5, "columnCount": 3}}
    fake_sheets.sheets += [
        {"sheetId": 50, "title": "aging_wip (building 20261130T030000Z dead)", **left},
        {"sheetId": 51, "title": "aging_wip (building 20261130T035000Z busy)", **left},
    ]

    assert publish(publisher(fake_sheets, service_account_file, []), []) == []

    # 04:05:06 now: the one started at 03:00 is abandoned, the one at 03:50 may be building
    assert fake_sheets.batch_updates() == [[{"deleteSheet": {"sheetId": 50}}]]
    assert [s["sheetId"] for s in fake_sheets.sheets] == [0, 7, 51]


def test_pivot_sheet_has_count_median_and_p85_blocks_per_team_and_period(ten: Engine) -> None:
    summary = summary_by_team(ten)
    pivot = PivotSheet.of(summary, fixture_ten.config())

    def text(row: list[dict]) -> list:
        return [next(iter(c["userEnteredValue"].values())) if c else None for c in row]

    # Q1 2025 finished: Team Alpha CPO-1 (TTM 20), CPO-3 (37); Team Gamma CPO-4 (38)
    assert [text(r) for r in pivot.rows[:12]] == [
        ["TTM, количество", "Q1 2025"],
        ["Team Alpha", 2],
        ["Team Gamma", 1],
        [],
        ["TTM, 50 перц. (порог 30)", "Q1 2025"],
        ["Team Alpha", 28.5],
        ["Team Gamma", 38.0],
        [],
        ["TTM, 85 перц. (порог 30)", "Q1 2025"],
        ["Team Alpha", text(pivot.rows[9])[1]],
        ["Team Gamma", 38.0],
        [],
    ]
    alpha_p85 = text(pivot.rows[9])[1]
    assert 28.5 < alpha_p85 <= 37
    assert len(pivot.rows) == 4 * 3 * 4 and pivot.column_count == 2
    requests = pivot.formatting(5, len(pivot.rows))
    rules = [r for r in requests if "addConditionalFormatRule" in r]
    # median and p85 of TTM, TTD, Tail, DevLT: 8 rules, each over its two team rows
    assert len(rules) == 8
    assert rules[0]["addConditionalFormatRule"]["rule"]["ranges"] == [
        {
            "sheetId": 5,
            "startRowIndex": 5,
            "endRowIndex": 7,
            "startColumnIndex": 1,
            "endColumnIndex": 2,
        }
    ]
    condition = rules[0]["addConditionalFormatRule"]["rule"]["booleanRule"]["condition"]
    assert condition["values"] == [{"userEnteredValue": "30"}]


def test_a_429_is_retried_after_its_retry_after(
    ten: Engine, fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    fake_sheets.refusals.append(
        Answer(429, {"error": {"code": 429, "message": "quota"}}, {"Retry-After": "7"})
    )
    sleeps: list[float] = []
    contents = sheet_contents(ten, fixture_ten.config(), "ttm_details", WEB_URL)[:1]

    [done] = publish(publisher(fake_sheets, service_account_file, sleeps), contents)

    assert sleeps == [7.0]
    assert done.rows == 6
    # the refused GET was sent again: 2 GETs, then the batchUpdates and the GET before the swap
    assert [c.method for c in fake_sheets.api_calls()] == [
        *["GET", "GET"],
        *["POST"] * 3,
        *["GET", "POST"],
    ]


def test_jobs_keep_delivery_apart_from_the_reports() -> None:
    from radiator_assets.definitions import defs

    def keys(job: str) -> set[str]:
        layer = defs.resolve_job_def(job).asset_layer
        return {k.to_user_string() for k in layer.executable_asset_keys}

    assert keys(google_sheets_job.name) == {"google_sheets_reports"}
    for job in (tracker_sync_job.name, reports_job.name):
        assert "report_ttm_details" in keys(job)
        assert "google_sheets_reports" not in keys(job)


def _report_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in REPORT_TABLES
        }


def test_a_failed_publish_fails_only_the_delivery_asset(
    ten: Engine,
    fake_sheets: FakeSheets,
    service_account_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _report_counts(ten)
    fake_sheets.refusals.extend([Answer(403, {"error": {"code": 403, "message": "denied"}})] * 2)
    resources = {
        "warehouse": WarehouseResource(
            database_url=ten.url.render_as_string(hide_password=False), auto_migrate=False
        ),
        "tracker": TrackerResource(),
        "google_sheets": GoogleSheetsResource(
            spreadsheet_id=SPREADSHEET_ID,
            credentials_path=str(service_account_file),
            api_url=f"{fake_sheets.url}/",
            reports="ttm_details",
        ),
    }

    result = dg.materialize([google_sheets_reports], resources=resources, raise_on_error=False)

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "Sheets API answered 403 to get the sheets" in str(failure.event_specific_data.error)
    assert _report_counts(ten) == before
    assert before["report_ttm_details"] == 6


def test_unconfigured_sheets_are_skipped_with_the_reason(
    ten: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("GOOGLE_SHEETS_SPREADSHEET_ID", "GOOGLE_SHEETS_CREDENTIALS_PATH"):
        monkeypatch.delenv(name, raising=False)
    resources = {
        "warehouse": WarehouseResource(
            database_url=ten.url.render_as_string(hide_password=False), auto_migrate=False
        ),
        "tracker": TrackerResource(),
        "google_sheets": GoogleSheetsResource(),
    }

    result = dg.materialize([google_sheets_reports], resources=resources)

    [event] = result.asset_materializations_for_node("google_sheets_reports")
    assert event.metadata["skipped"].value == (
        "GOOGLE_SHEETS_SPREADSHEET_ID and GOOGLE_SHEETS_CREDENTIALS_PATH not set: "
        "Google Sheets publishing is off"
    )


def test_a_refusal_for_good_is_not_retried(
    ten: Engine, fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    fake_sheets.refusals.append(Answer(400, {"error": {"code": 400, "message": "bad"}}))
    sleeps: list[float] = []
    with pytest.raises(SheetsError, match="answered 400 to get the sheets"):
        publish(publisher(fake_sheets, service_account_file, sleeps), [])
    assert sleeps == []


@dataclass(frozen=True)
class RefusedSheet:
    """A sheet whose formatting names a sheet id the spreadsheet does not have: the API
    refuses its swap with a 400."""

    title: str = "refused"
    column_count: int = 1

    def rows_to_write(self) -> int:
        return 1

    def row_chunks(self, chunk_rows: int) -> Iterator[list[dict]]:
        yield [[{"userEnteredValue": {"stringValue": "header"}}]]

    def formatting(self, sheet_id: int, rows_written: int) -> list[dict]:
        return [bold_row(999, 0, 1)]


def test_an_empty_report_is_published_and_a_refused_sheet_stops_no_other(
    ten: Engine, fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    empty, details, _pivots = sheet_contents(
        ten, fixture_ten.config(), "subepic_returns,ttm_details", WEB_URL
    )
    assert empty.rows_to_write() == 1  # the header only: fixture_ten has no sub-epic returns
    old = {"rowCount": 40, "columnCount": 26, "frozenRowCount": 1}
    fake_sheets.sheets.append(
        {"sheetId": 9, "title": "subepic_returns", "index": 2, "gridProperties": old}
    )

    with pytest.raises(PublishError) as raised:
        publish(publisher(fake_sheets, service_account_file, []), [RefusedSheet(), empty, details])

    assert str(raised.value) == (
        "1 sheet(s) not published: 'refused': Sheets API answered 400 to swap 'refused' in: "
        "No grid with id: 999"
    )
    assert [(p.title, p.sheet_id, p.rows) for p in raised.value.published] == [
        ("subepic_returns", 9, 0),
        ("ttm_details", 7, 6),
    ]
    # the empty sheet: its header and one blank row, the header frozen
    grid = fake_sheets.sheet("subepic_returns")["gridProperties"]
    assert (grid["rowCount"], grid["frozenRowCount"]) == (2, 1)
    assert len(fake_sheets.rows[9]) == 2 and fake_sheets.rows[9][1] == {}
    # the refused sheet's building sheet is deleted, nothing is left hidden
    assert [s["title"] for s in fake_sheets.sheets] == ["readme", "ttm_details", "subepic_returns"]


def test_the_step_fails_naming_the_refused_sheet_after_publishing_the_others(
    ten: Engine,
    fake_sheets: FakeSheets,
    service_account_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def contents(engine: Engine, config: MetricsConfig, reports: str, url: str) -> list:
        return [RefusedSheet(), *sheet_contents(engine, config, reports, url)[:1]]

    monkeypatch.setattr("radiator_assets.assets.delivery.sheet_contents", contents)
    resources = {
        "warehouse": WarehouseResource(
            database_url=ten.url.render_as_string(hide_password=False), auto_migrate=False
        ),
        "tracker": TrackerResource(),
        "google_sheets": GoogleSheetsResource(
            spreadsheet_id=SPREADSHEET_ID,
            credentials_path=str(service_account_file),
            api_url=f"{fake_sheets.url}/",
            reports="ttm_details",
        ),
    }

    result = dg.materialize([google_sheets_reports], resources=resources, raise_on_error=False)

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = failure.event_specific_data
    assert data.user_failure_data.description.startswith("1 sheet(s) not published: 'refused'")
    assert data.user_failure_data.metadata["rows_ttm_details"].value == 6
    assert fake_sheets.rows[7][1]["values"][0]["userEnteredValue"] == {"stringValue": "CPO-1"}


def test_the_google_sheets_asset_takes_its_own_pool() -> None:
    """Publishes take turns (the instance's default pool limit is 1), whatever starts them."""
    assert google_sheets_reports.op.pool == "google_sheets"


def test_an_unreachable_api_is_retried_like_a_5xx(
    fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sleeps: list[float] = []
    unreachable = SheetsPublisher(
        sheets_service(service_account_file, f"http://127.0.0.1:{port}/"),
        SPREADSHEET_ID,
        policy=RetryPolicy(attempts=3, max_wait_seconds=60),
        sleep=sleeps.append,
    )

    with pytest.raises(SheetsError) as raised:
        publish(unreachable, [])

    assert str(raised.value) == (
        "could not reach the Sheets API (ConnectionRefusedError) to get the sheets, "
        "still after retries"
    )
    assert sleeps == [1.0, 2.0]


def test_a_429_without_retry_after_waits_past_googles_minute(
    fake_sheets: FakeSheets, service_account_file: Path
) -> None:
    fake_sheets.refusals.extend([Answer(429, {"error": {"code": 429, "message": "quota"}})] * 4)
    sleeps: list[float] = []
    default = SheetsPublisher(
        sheets_service(service_account_file, f"{fake_sheets.url}/"),
        SPREADSHEET_ID,
        sleep=sleeps.append,
    )

    assert publish(default, []) == []
    assert sleeps == [5.0, 10.0, 20.0, 40.0]  # the fifth try comes 75 s after the first
