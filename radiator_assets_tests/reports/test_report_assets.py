"""The report assets in Dagster: the tracker and reports groups materialized in process
against the Tracker emulator, and the metadata they leave."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import URL

from radiator_assets.assets.report_pictures import report_pictures
from radiator_assets.assets.reports import REPORT_ASSETS, markdown_table, parse_as_of
from radiator_assets.assets.tracker import TRACKER_ASSETS
from radiator_assets.automation.jobs import partition_range_tags
from radiator_assets.automation.report_schedules import reports_job, reports_schedule
from radiator_assets.emulator import TrackerEmulator, generate_org
from radiator_assets.resources import TrackerResource, WarehouseResource
from radiator_assets_tests.tracker_fixtures import EMULATOR_ORG_ID, EMULATOR_TOKEN

AS_OF = "2025-05-01T00:00:00Z"
REPORTS = (
    "report_ttm_details",
    "report_ttm_summary",
    "report_flow_weekly",
    "report_aging_wip",
    "report_status_activity",
    "report_time_in_status",
    "report_testing_returns",
    "report_subepic_returns",
)


@pytest.fixture
def resources(database_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Constructed resources for the emulator and this test's database; the environment
    names neither (and points the warehouse at a database that does not exist), so the
    run can only have used the resources' fields."""
    emulator = TrackerEmulator(
        generate_org(seed=5, n_issues=150, span_days=60),
        token=EMULATOR_TOKEN,
        org_id=EMULATOR_ORG_ID,
    ).start()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RADIATOR_HOME", str(tmp_path))
    monkeypatch.setenv(
        "RADIATOR_DATABASE_URL",
        database_url.set(database="radiator_no_such_database").render_as_string(
            hide_password=False
        ),
    )
    for name in ("TRACKER_API_URL", "TRACKER_TOKEN", "TRACKER_ORG_ID", "TRACKER_CLOUD_ORG_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRACKER_RPS", "10000")
    yield {
        "warehouse": WarehouseResource(
            database_url=database_url.render_as_string(hide_password=False)
        ),
        "tracker": TrackerResource(
            api_url=emulator.base_url,
            token=EMULATOR_TOKEN,
            org_id=EMULATOR_ORG_ID,
            query="Queue: CPO OR Queue: FULLSTACK",
        ),
    }
    emulator.stop()


PICTURES = {
    "heatmap_p85": ("report_ttm_summary", "ttm_heatmap_p85.png"),
    "heatmap_median": ("report_ttm_summary", "ttm_heatmap_median.png"),
    "heatmap_mean": ("report_ttm_summary", "ttm_heatmap_mean.png"),
    "cumulative_flow": ("report_flow_weekly", "cumulative_flow.png"),
    "aging_wip": ("report_aging_wip", "aging_wip.png"),
    "status_activity": ("report_status_activity", "status_activity.png"),
    "trends": ("report_summary_history", "trends.png"),
}


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        m.asset_key.to_user_string(): m.metadata
        for m in result.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]  # type: ignore[union-attr]
    }


def test_report_tables_materialize_without_pictures_then_report_pictures_draws_them(
    resources: dict[str, dg.ConfigurableResource], tmp_path: Path
) -> None:
    report_config = {"config": {"as_of": AS_OF}}
    result = dg.materialize(
        [*TRACKER_ASSETS, *REPORT_ASSETS],
        resources=resources,
        run_config={
            "ops": {
                "product_reports": report_config,
                "report_status_activity": report_config,
                "report_time_in_status": report_config,
                "report_testing_returns": report_config,
                "report_subepic_returns": report_config,
            }
        },
        tags=partition_range_tags("2025-03-01", "2025-06-01"),
    )
    assert result.success
    metadata = _metadata(result)
    assert set(REPORTS) <= set(metadata)
    details = metadata["report_ttm_details"]
    assert details["dagster/row_count"].value > 0
    assert details["as_of"].value == "2025-05-01T00:00:00+00:00"
    assert "dagster/column_schema" not in details  # declared on the asset, not on each event
    assert details["preview"].value.startswith("| task_key |")
    assert isinstance(details["thresholds_crossed"].value, dict)
    assert any(key.startswith("seconds_") for key in details)
    for asset in REPORTS:
        assert metadata[asset]["dagster/row_count"].value >= 0
        assert not any(key.startswith("picture_") for key in metadata[asset])
    reports_dir = tmp_path.resolve() / "reports"
    assert not list(reports_dir.glob("*.png"))  # the tables draw nothing

    # the pictures, drawn from those tables, as of the as_of the tables describe
    drawn = dg.materialize([report_pictures], resources=resources)
    assert drawn.success
    pictures = _metadata(drawn)["report_pictures"]
    assert pictures["as_of"].value == "2025-05-01T00:00:00+00:00"
    assert (pictures["redrawn"].value, pictures["kept"].value) == (7, 0)
    assert sorted(p.name for p in reports_dir.glob("*.png")) == sorted(
        file for _, file in PICTURES.values()
    )
    table = pictures["pictures"].value.splitlines()
    assert table[0] == "| picture | report | file | drawn |"
    assert sorted(table[2:]) == sorted(
        f"| {name} | {report} | {file} | redrawn |" for name, (report, file) in PICTURES.items()
    )
    for name, (_, file) in PICTURES.items():
        path = Path(pictures[f"picture_{name}"].value)
        assert path == reports_dir / file and path.read_bytes()[:4] == b"\x89PNG"
        assert pictures[name].value.startswith(f"![{name}](data:image/png;base64,")

    # the same tables again: every picture is kept, and still listed
    again = _metadata(dg.materialize([report_pictures], resources=resources))["report_pictures"]
    assert (again["redrawn"].value, again["kept"].value) == (0, 7)
    assert sorted(again["pictures"].value.splitlines()[2:]) == sorted(
        f"| {name} | {report} | {file} | kept |" for name, (report, file) in PICTURES.items()
    )
    assert all(f"picture_{name}" in again for name in PICTURES)


def test_the_sensor_job_builds_tables_only_and_the_daily_job_draws_the_pictures():
    from radiator_assets.definitions import defs

    pictures = dg.AssetKey("report_pictures")
    sync_keys = defs.resolve_job_def("tracker_sync").asset_layer.executable_asset_keys
    daily_keys = defs.resolve_job_def("reports").asset_layer.executable_asset_keys
    assert pictures not in sync_keys
    assert {dg.AssetKey(name) for name in REPORTS} <= sync_keys
    assert daily_keys == {*(dg.AssetKey(name) for name in REPORTS), pictures}
    assert defs.resolve_job_def("pictures").asset_layer.executable_asset_keys == {pictures}
    node = defs.resolve_asset_graph().get(pictures)
    assert node.group_name == "reports"
    assert node.parent_keys == {
        *(dg.AssetKey(name) for name in REPORTS[:5]),
        dg.AssetKey("report_summary_history"),
    }


def test_reports_have_one_automation_path_the_sync_job_and_the_daily_schedule():
    from radiator_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    sync_job = defs.resolve_job_def("tracker_sync")
    for name in REPORTS:
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "reports"
        # No automation condition: the automation-condition sensor is off, nothing is eager.
        assert node.automation_condition is None
        assert dg.AssetKey("tracker_task_history") in node.parent_keys
        assert dg.AssetKey(name) in sync_job.asset_layer.executable_asset_keys
        columns = node.metadata["dagster/column_schema"].columns
        assert columns and node.metadata["dagster/table_name"] == name
    assert [s.name for s in defs.schedules or []] == [
        "tracker_reconcile_schedule",
        "reports_schedule",
    ]


def test_reports_schedule_runs_the_reports_job_daily():
    assert reports_schedule.cron_schedule == "0 6 * * *"
    assert reports_schedule.job_name == reports_job.name == "reports"


def test_as_of_is_parsed_as_utc():
    assert parse_as_of("2025-05-01T03:00:00+03:00") == datetime(2025, 5, 1, tzinfo=UTC)
    assert parse_as_of("2025-05-01") == datetime(2025, 5, 1, tzinfo=UTC)
    assert parse_as_of("2025-05-01T00:00:00Z") == datetime(2025, 5, 1, tzinfo=UTC)


def test_markdown_preview_escapes_pipes():
    assert markdown_table([{"a": "x|y", "b": None}]) == "| a | b |\n| --- | --- |\n| x\\|y |  |"
