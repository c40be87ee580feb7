"""Running the asset graph in-process, for people without a Dagster deployment.

`radiator sync` and `radiator demo` call `run_sync`, a thin wrapper over
Dagster's own `materialize`: the same assets, checks and resources as a
deployment, so there is one code path. Runs are recorded in the Dagster
instance at `$DAGSTER_HOME` (default `$RADIATOR_HOME/dagster`), so `dagster dev`
started with the same `DAGSTER_HOME` shows them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from radiator_assets.automation.jobs import partition_range_tags, whole_history_tags
from radiator_assets.settings import get_settings
from radiator_assets.storage.engine import get_engine
from radiator_assets.storage.migrations import ensure_migrated
from radiator_assets.sync.window import incremental_range_start

LOCAL_INSTANCE_YAML = """\
# Local Dagster instance written by radiator: SQLite storage under this folder.
# deploy/dagster.yaml in the repository is the production (PostgreSQL) instance.
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    """`$DAGSTER_HOME`, or `$RADIATOR_HOME/dagster` (created) when unset."""
    configured = os.environ.get("DAGSTER_HOME")
    home = Path(configured) if configured else get_settings().home.resolve() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(LOCAL_INSTANCE_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass(frozen=True)
class SyncOutcome:
    success: bool
    run_id: str
    metadata: dict[str, dict[str, Any]]  # asset key -> metadata values
    checks: dict[str, bool]  # check name -> passed

    def value(self, asset: str, key: str, default: Any = None) -> Any:
        return self.metadata.get(asset, {}).get(key, default)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def run_sync(
    *,
    selection: Sequence[str] | None = None,
    mode: str = "incremental",
    since: date | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "WARNING",
) -> SyncOutcome:
    """Materialize the ingestion assets (and whatever `selection` adds) in this process."""
    from radiator_assets.definitions import defs

    settings = get_settings()
    engine = get_engine()
    # Before anything reads the warehouse (the high-water mark below): a first run on an
    # empty database migrates it, as the warehouse resource would in each step.
    ensure_migrated(engine)
    today = datetime.now(UTC).date()
    first_day = since
    if first_day is None and mode == "incremental":
        first_day = incremental_range_start(
            engine, timedelta(minutes=settings.sync_overlap_minutes)
        )
    tags = partition_range_tags(first_day, today) if first_day else whole_history_tags(today)
    issues_config: dict[str, Any] = {"mode": mode}
    if since is not None:
        issues_config["since"] = since.isoformat()
    selection = list(selection or ["group:tracker"])
    own_instance = instance is None
    if own_instance:
        dagster_home()
        instance = dg.DagsterInstance.get()
    try:
        asset_graph = defs.resolve_asset_graph()
        selected = dg.AssetSelection.from_string(" or ".join(selection))
        keys = selected.resolve(asset_graph)
        assets = [a for a in defs.assets or [] if set(a.keys) & keys]  # type: ignore[union-attr]
        checks = [
            c
            for c in defs.asset_checks or []
            if {k.asset_key for k in c.check_keys} & keys  # type: ignore[union-attr]
        ]
        result = dg.materialize(
            [*assets, *checks],
            instance=instance,
            resources=defs.resources,
            tags=tags,
            run_config={
                "ops": (
                    {"tracker_issues": {"config": issues_config}}
                    if dg.AssetKey("tracker_issues") in keys
                    else {}
                ),
                "loggers": {"console": {"config": {"log_level": log_level}}},
            },
            selection=selected,
            raise_on_error=False,
        )
    finally:
        if own_instance:
            instance.dispose()
    metadata: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        metadata[mat.asset_key.to_user_string()] = {k: _plain(v) for k, v in mat.metadata.items()}
    checks_passed = {
        evaluation.check_name: evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }
    return SyncOutcome(result.success, result.run_id, metadata, checks_passed)
