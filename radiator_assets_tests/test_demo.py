"""The README's main job, `radiator demo`, runs end to end and shows the report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL


def test_the_demo_syncs_twice_and_prints_the_ttm_summary_and_pictures(
    database_url: URL, tmp_path: Path
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
    assert {p.name for p in pictures} == {"ttm_heatmap.png", "cumulative_flow.png", "aging_wip.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pictures)
    assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()
    # The printed commands work pasted into a new shell: executables by absolute path.
    (dev,) = [line.split() for line in out.splitlines() if line.strip().endswith(" dev")]
    assert Path(dev[-2]).is_absolute() and Path(dev[-2]).exists()
    assert dev[0].startswith("RADIATOR_HISTORY_START=")
