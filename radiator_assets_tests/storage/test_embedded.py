"""With no database configured, the project starts (or reuses) its embedded server."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from radiator_assets.storage.embedded import stop_server


def _radiator(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RADIATOR_", "TRACKER_"))}
    env["RADIATOR_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "radiator_assets.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
    )


def test_processes_started_at_once_share_one_embedded_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    try:
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: _radiator(home, "db", "url"), range(3)))
        assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
        urls = {r.stdout.strip() for r in results}
        assert len(urls) == 1
        (url,) = urls
        assert url.startswith("postgresql+psycopg2://postgres")
        assert str(home / "pgdata").replace("/", "%2F") in url

        upgraded = _radiator(home, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        check = _radiator(home, "db", "check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "matches the models" in check.stdout
    finally:
        stop_server(home / "pgdata")


def test_stop_reports_when_no_server_runs(tmp_path: Path) -> None:
    assert stop_server(tmp_path / "pgdata") is False
