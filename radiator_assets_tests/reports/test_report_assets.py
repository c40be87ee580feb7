"""The report assets in Dagster: the tracker and reports groups materialized in process
against the Tracker emulator, and the metadata they leave."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import URL

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


def test_tracker_and_reports_groups_materialize_with_report_metadata(
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
    metadata = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]  # type: ignore[union-attr]
    }
    assert set(REPORTS) <= set(metadata)
    details = metadata["report_ttm_details"]
    assert details["dagster/row_count"].value > 0
    assert details["as_of"].value == "2025-05-01T00:00:00+00:00"
    assert "dagster/column_schema" not in details  # declared on the asset, not on each event
    assert details["preview"].value.startswith("| task_key |")
    assert isinstance(details["thresholds_crossed"].value, dict)
    assert any(key.startswith("seconds_") for key in details)
    reports_dir = tmp_path.resolve() / "reports"
    for asset, picture in (
        ("report_ttm_summary", "heatmap_p85"),
        ("report_ttm_summary", "heatmap_median"),
        ("report_ttm_summary", "heatmap_mean"),
        ("report_flow_weekly", "cumulative_flow"),
        ("report_aging_wip", "aging_wip"),
        ("report_status_activity", "status_activity"),
    ):
        path = Path(metadata[asset][f"picture_{picture}"].value)
        assert path.parent == reports_dir and path.read_bytes()[:4] == b"\x89PNG"
        assert metadata[asset][picture].value.startswith(f"![{picture}](data:image/png;base64,")
    for asset in REPORTS:
        assert metadata[asset]["dagster/row_count"].value >= 0


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
