"""The README's main job, `radiator demo`, runs end to end and shows the report."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import URL


def test_the_demo_syncs_twice_and_prints_the_ttm_summary_and_pictures(
    database_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "DAGSTER_"))}
    env["RADIATOR_DATABASE_URL"] = database_url.render_as_string(hide_password=False)
    env["RADIATOR_HOME"] = str(tmp_path / "home")
    completed = subprocess.run(
        [sys.executable, "-m", "radiator_assets.cli", "demo", "--issues", "60"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = completed.stdout
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "issues:    60 seen, 60 new" in out
    assert "== Incremental sync" in out
    assert "3 new" in out.split("== Incremental sync")[1]
    assert "== TTM summary per team" in out
    pictures = [Path(line.strip()) for line in out.splitlines() if line.strip().endswith(".png")]
    assert {p.name for p in pictures} == {
        "ttm_heatmap_p85.png",
        "ttm_heatmap_median.png",
        "ttm_heatmap_mean.png",
        "cumulative_flow.png",
        "aging_wip.png",
        "status_activity.png",
        "trends.png",
    }
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pictures)
    assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()
    # The printed commands work pasted into a new shell: executables by absolute path.
    (dev,) = [line.split() for line in out.splitlines() if " dev -m " in line]
    assert Path(dev[-4]).is_absolute() and Path(dev[-4]).exists()
    assert dev[2] == f"RADIATOR_HOME={(tmp_path / 'home').resolve()}"
    assert dev[0].startswith("RADIATOR_HISTORY_START=")
    # ... and it names the live demo, where the sensor has a Tracker to ask.
    assert out.rstrip().endswith(f"{Path(dev[-4]).parent / 'radiator'} demo --serve")

    # Its runs are in the instance `dagster dev` opens, under the project's job, and the
    # changelog's months start at the organisation's first month, not at a fixed 2017.
    start = date.fromisoformat(dev[0].split("=", 1)[1])
    monkeypatch.setenv("DAGSTER_HOME", dev[1].split("=", 1)[1])
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        months = instance.get_materialized_partitions(dg.AssetKey("tracker_changelog"))
    # newest first: the pictures, drawn after the two syncs (which draw none)
    assert [r.job_name for r in runs] == ["pictures", "tracker_sync", "tracker_sync"]
    assert min(months) == start.replace(day=1).isoformat()
    assert max(months) == datetime.now(UTC).date().replace(day=1).isoformat()
