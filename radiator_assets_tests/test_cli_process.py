"""`radiator` as a fresh process, the way a shell runs it: nothing is imported in advance,
so an error raised while modules load shows here and not in in-process tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa


def _radiator(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "RADIATOR_"))}
    clean |= {"RADIATOR_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dg")}
    return subprocess.run(
        [sys.executable, "-m", "radiator_assets.cli", *argv],
        env=clean | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("TRACKER_API_URL", "notaurl", "TRACKER_API_URL: must be an http:// or https:// URL"),
        ("RADIATOR_HISTORY_START", "bogus", "RADIATOR_HISTORY_START"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2_in_a_fresh_process(
    tmp_path: Path, variable: str, value: str, said: str
) -> None:
    ran = _radiator(tmp_path, "sync", **{variable: value, "TRACKER_TOKEN": "token-of-the-test"})

    assert ran.returncode == 2, ran.stderr
    (line,) = [line for line in ran.stderr.splitlines() if line.strip()]
    assert line.startswith(f"radiator: error: {said}")
    assert "Traceback" not in ran.stdout + ran.stderr


def test_export_into_a_closed_pipe_ends_quietly(tmp_path: Path, app_env, engine) -> None:
    # `radiator export ... | head`: the reader leaves early, which is not an error.
    with engine.begin() as conn:  # far more than a pipe's buffer
        conn.execute(
            sa.text(
                "INSERT INTO report_time_in_status (task_key, status, queue, status_block, days, "
                "current_days, entries, is_current, current_status, last_change) "
                "SELECT 'CPO-' || n, 'Open', 'CPO', 'backlog', 1, 0, 1, false, 'Open', now() "
                "FROM generate_series(1, 20000) AS n"
            )
        )
    env = {"RADIATOR_DATABASE_URL": os.environ["RADIATOR_DATABASE_URL"]}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "RADIATOR_"))}
    export = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radiator_assets.cli",
            "export",
            "report_time_in_status",
            "--format",
            "csv",
        ],
        env=clean | env | {"RADIATOR_HOME": str(tmp_path / "home")},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert export.stdout is not None and export.stderr is not None
    export.stdout.readline()
    export.stdout.close()  # like `head -1` exiting
    stderr = export.stderr.read()
    assert export.wait(timeout=120) == 0, stderr
    assert "BrokenPipe" not in stderr
