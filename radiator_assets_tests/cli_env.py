"""Running the `radiator` command in-process against the emulator and a real database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from radiator_assets import cli
from radiator_assets.emulator import TrackerEmulator
from radiator_assets.settings import get_settings

QUERY = "Queue: CPO, FULLSTACK"


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    """`radiator ARGV...` in this process: the exit code and what it printed."""
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def point_cli_at(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: URL | str,
    emulator: TrackerEmulator | None = None,
) -> Path:
    """The environment a user would set, in a working directory of the test's own;
    returns `RADIATOR_HOME`."""
    home = tmp_path / "home"
    monkeypatch.chdir(tmp_path)
    url = (
        database_url.render_as_string(hide_password=False)
        if isinstance(database_url, URL)
        else database_url
    )
    env = {
        "RADIATOR_DATABASE_URL": url,
        "RADIATOR_HOME": str(home),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "RADIATOR_CONFIG": str(tmp_path / "radiator.yaml"),
        "TRACKER_QUERY": QUERY,
        "TRACKER_RPS": "1000",
        "TRACKER_MAX_RETRY_SECONDS": "2",
        "TRACKER_READ_TIMEOUT": "5",
        "RADIATOR_SYNC_BATCH_SIZE": "25",
    }
    if emulator is not None:
        env |= {
            "TRACKER_API_URL": emulator.base_url,
            "TRACKER_TOKEN": emulator.token,
            "TRACKER_ORG_ID": emulator.org_id,
            # The partitions a first sync covers start with the organisation, as a user sets it.
            "RADIATOR_HISTORY_START": min(r.created_at for r in emulator.org.live())
            .date()
            .isoformat(),
        }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TRACKER_CLOUD_ORG_ID", raising=False)
    get_settings.cache_clear()
    return home


def table_names(url: URL) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def scalar(url: URL, sql: str) -> object:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text(sql))
    finally:
        engine.dispose()
