"""The Dagster resources: their fields win over the environment, `Settings` validates both,
and the Dagster UI shows the variables a deployment sets by name, never their values."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_graphql.test.utils import (
    define_out_of_process_context,
    execute_dagster_graphql,
    infer_job_selector,
    infer_resource_selector,
)
from pydantic import ValidationError
from sqlalchemy.engine import URL

from radiator_assets.definitions import build_resources
from radiator_assets.resources import (
    TRACKER_ENV,
    WAREHOUSE_ENV,
    TrackerResource,
    WarehouseResource,
)
from radiator_assets.storage.report_models import REPORT_TABLES
from radiator_assets.tracker.errors import TrackerConfigError

TOKEN = "y0_the-token-that-must-stay-hidden"
PASSWORD = "Pw-of-the-warehouse-9"
DATABASE_URL = f"postgresql+psycopg2://radiator:{PASSWORD}@127.0.0.1:5432/radiator"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No resource variable set, no `.env` to read (a directory of the test's own)."""
    monkeypatch.chdir(tmp_path)
    for name in (*TRACKER_ENV.values(), *WAREHOUSE_ENV.values(), "TRACKER_RPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RADIATOR_HOME", str(tmp_path / "home"))
    return tmp_path


def test_the_fields_win_over_the_environment_which_gives_the_rest(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "TRACKER_API_URL": "https://tracker.env.example",
        "TRACKER_TOKEN": "env-token-00000",
        "TRACKER_ORG_ID": "111",
        "TRACKER_QUERY": "Queue: ENV",
        "TRACKER_RPS": "7",
    }.items():
        monkeypatch.setenv(name, value)
    tracker = TrackerResource(
        api_url="http://127.0.0.1:9/", token="field-token-11111", query="Queue: FIELD"
    )

    settings = tracker.settings()

    assert settings.tracker_api_url == "http://127.0.0.1:9"  # validated: the slash is gone
    assert settings.tracker_token is not None
    assert settings.tracker_token.get_secret_value() == "field-token-11111"
    assert settings.tracker_query == "Queue: FIELD"
    assert settings.tracker_org_id == "111"
    assert settings.tracker_requests_per_second == 7.0
    assert settings.tracker_auth_scheme == "OAuth"
    with tracker.client() as client:
        assert client.base_url == "http://127.0.0.1:9"
    assert TrackerResource().settings().tracker_query == "Queue: ENV"


def test_a_field_is_validated_like_the_variable_and_never_echoed(clean_env: Path) -> None:
    with pytest.raises(ValidationError) as short:
        TrackerResource(token="abc1234").settings()
    assert "TRACKER_TOKEN" in str(short.value)
    assert "abc1234" not in str(short.value)

    with pytest.raises(ValidationError) as credentials:
        TrackerResource(api_url="https://robot:pw-in-the-url@tracker.example").settings()
    assert "TRACKER_API_URL" in str(credentials.value)
    assert "pw-in-the-url" not in str(credentials.value)

    with pytest.raises(ValidationError, match="not both"):
        TrackerResource(org_id="1", cloud_org_id="2").settings()


def test_without_a_token_the_client_names_the_variable_to_set(clean_env: Path) -> None:
    with pytest.raises(TrackerConfigError) as missing:
        TrackerResource(org_id="1").client()
    assert str(missing.value) == "no Tracker token configured: set TRACKER_TOKEN"


def test_the_warehouse_field_wins_over_the_environment(
    clean_env: Path, database_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = database_url.set(database="radiator_no_such_database")
    monkeypatch.setenv("RADIATOR_DATABASE_URL", elsewhere.render_as_string(hide_password=False))
    warehouse = WarehouseResource(database_url=database_url.render_as_string(hide_password=False))

    engine = warehouse.engine()

    assert warehouse.engine() is engine
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT current_database()")) == database_url.database
    from_env = WarehouseResource().settings().database_url
    assert from_env is not None
    assert from_env.get_secret_value() == elsewhere.render_as_string(hide_password=False)


def test_the_definitions_take_each_variable_that_is_set_as_an_env_var(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RADIATOR_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("TRACKER_TOKEN", TOKEN)
    monkeypatch.setenv("TRACKER_ORG_ID", "4242")

    resources = build_resources()

    warehouse, tracker = resources["warehouse"], resources["tracker"]
    assert isinstance(warehouse, WarehouseResource) and isinstance(tracker, TrackerResource)
    fields = [(warehouse, name) for name in WAREHOUSE_ENV] + [(tracker, n) for n in TRACKER_ENV]
    set_fields = {
        name: value.env_var_name
        for resource, name in fields
        if isinstance(value := getattr(resource, name), dg.EnvVar)
    }
    assert set_fields == {
        "database_url": "RADIATOR_DATABASE_URL",
        "token": "TRACKER_TOKEN",
        "org_id": "TRACKER_ORG_ID",
    }
    unset = [field for field in TRACKER_ENV if field not in set_fields]
    assert unset and all(getattr(tracker, field) is None for field in unset)
    assert warehouse.auto_migrate is True


RESOURCE_QUERY = """
query ($selector: ResourceSelector!) {
  topLevelResourceDetailsOrError(resourceSelector: $selector) {
    __typename
    ... on ResourceDetails { configuredValues { key value type } }
  }
}
"""
LAUNCHPAD_QUERY = """
query ($selector: PipelineSelector!) {
  runConfigSchemaOrError(selector: $selector) {
    __typename
    ... on RunConfigSchema { rootDefaultYaml }
  }
}
"""
FRESHNESS_QUERY = """
query {
  assetNodes {
    assetKey { path }
    internalFreshnessPolicy {
      __typename
      ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds }
    }
  }
}
"""


@pytest.fixture
def deployment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:  # a WorkspaceRequestContext
    """The code location loaded as `dagster dev` loads it (a code server in its own process,
    with a deployment's variables set), and the GraphQL API its UI reads."""
    monkeypatch.setenv("RADIATOR_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("TRACKER_TOKEN", TOKEN)
    monkeypatch.setenv("TRACKER_ORG_ID", "4242")
    monkeypatch.setenv("RADIATOR_FRESHNESS_MAX_AGE_HOURS", "30")
    workspace = clean_env / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: radiator_assets.definitions\n"
        "      location_name: radiator_assets\n",
        encoding="utf-8",
    )
    with (
        dg.instance_for_test() as instance,
        define_out_of_process_context(str(workspace), None, instance) as context,
    ):
        yield context


def test_the_dagster_ui_shows_the_variable_names_never_the_secrets(deployment: Any) -> None:
    shown: dict[str, dict[str, tuple[str, str]]] = {}
    for name in ("warehouse", "tracker"):
        result = execute_dagster_graphql(
            deployment, RESOURCE_QUERY, {"selector": infer_resource_selector(deployment, name)}
        )
        details = result.data["topLevelResourceDetailsOrError"]
        assert details["__typename"] == "ResourceDetails"
        shown[name] = {v["key"]: (v["type"], v["value"]) for v in details["configuredValues"]}
    launchpad = execute_dagster_graphql(
        deployment,
        LAUNCHPAD_QUERY,
        {"selector": infer_job_selector(deployment, "tracker_sync")},
    ).data["runConfigSchemaOrError"]["rootDefaultYaml"]

    assert shown["warehouse"]["database_url"] == ("ENV_VAR", "RADIATOR_DATABASE_URL")
    assert shown["tracker"]["token"] == ("ENV_VAR", "TRACKER_TOKEN")
    assert shown["tracker"]["org_id"] == ("ENV_VAR", "TRACKER_ORG_ID")
    assert shown["tracker"]["cloud_org_id"] == ("VALUE", "null")
    assert "token:\n        env: TRACKER_TOKEN" in launchpad
    assert "database_url:\n        env: RADIATOR_DATABASE_URL" in launchpad
    everything = json.dumps(shown) + launchpad
    for secret in (TOKEN, PASSWORD, DATABASE_URL):
        assert secret not in everything


def test_dagster_watches_the_freshness_of_every_asset(deployment: Any) -> None:
    nodes = execute_dagster_graphql(deployment, FRESHNESS_QUERY).data["assetNodes"]
    policies = {"/".join(n["assetKey"]["path"]): n["internalFreshnessPolicy"] for n in nodes}

    daily = {
        "__typename": "TimeWindowFreshnessPolicy",
        "failWindowSeconds": 30 * 3600,  # RADIATOR_FRESHNESS_MAX_AGE_HOURS
        "warnWindowSeconds": None,
    }
    ingestion = {"tracker_issues", "tracker_changelog", "tracker_task_history"}
    # none on the delivery asset (materialized only where Google Sheets is configured) nor on
    # the weekly history (it changes only when someone backfills it)
    unwatched = {"google_sheets_reports": None, "report_summary_history": None}
    # the pictures are watched like the tables they are drawn from (daily reports run)
    watched = ingestion | set(REPORT_TABLES) | {"report_pictures"}
    assert policies == {name: daily for name in watched} | unwatched


WARNINGS_ON_LOAD = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import radiator_assets.definitions
print(json.dumps([[w.category.__name__, [c.__name__ for c in w.category.__mro__], str(w.message)]
                  for w in caught]))
"""


def test_loading_the_definitions_warns_of_nothing_deprecated_superseded_or_preview(
    clean_env: Path,
) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", WARNINGS_ON_LOAD],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    caught = json.loads(completed.stdout.strip().splitlines()[-1])
    unwanted = {"DeprecationWarning", "FutureWarning", "PreviewWarning", "SupersessionWarning"}
    assert [(name, message) for name, mro, message in caught if unwanted & set(mro)] == []
