"""Every `radiator` command ends an error with one line a person reads:
`radiator: error: <what> (<where>): <what to do>`, exit code 2 when a setting or a
file must change and 1 for a runtime failure, the traceback in the log (or on the
console with --verbose), and never a secret, not even a piece of one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from radiator_assets import cli
from radiator_assets.settings import get_settings
from radiator_assets_tests.cli_env import Ran, point_cli_at, run_cli, table_names

TOKEN = "y0_SECRETtokenVALUE-9f3e1a"
PASSWORD = "Pa55-hunter2-word"
UNREACHABLE = f"postgresql://radiator:{PASSWORD}@127.0.0.1:1/radiator"

ROLES_TYPO = """\
statuses:
  - {name: Open, block: backlog}
  - {name: Ready, block: delivery}
  - {name: Dev, block: delivery}
  - {name: External test, block: delivery}
  - {name: Backlog, block: discovery}
  - {name: On hold, block: pause}
  - {name: Done, block: done}
roles:
  pause: On hold
  ready_for_development: Ready
  in_development: Devv
  external_test: External test
  discovery_backlog: Backlog
  testing_returns: [External test]
"""


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def leaked(secret: str, *texts: str) -> list[str]:
    """The parts of `secret` (whole, or its first 4, 6, 8, 12 characters) in `texts`."""
    parts = [secret[:n] for n in (4, 6, 8, 12)] + [secret]
    return [part for part in parts if any(part in text for text in texts)]


def files_under(path: Path) -> str:
    return "\n".join(
        f.read_text(encoding="utf-8", errors="replace") for f in path.rglob("*") if f.is_file()
    )


def assert_one_error_line(ran: Ran, code: int) -> str:
    """The exit code is `code` and standard error holds one error line (and warnings
    only besides, such as the bundled example configuration being used)."""
    errors = [line for line in ran.err_lines if line.startswith("radiator: error: ")]
    others = [line for line in ran.err_lines if not line.startswith("radiator: warning: ")]
    assert (ran.code, len(errors), others) == (code, 1, errors), ran.err
    return errors[0]


# --------------------------------------------------------------------------- settings


def test_both_org_ids_set_cli_error_shows_no_part_of_the_token(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    point_cli_at(monkeypatch, tmp_path, UNREACHABLE)
    monkeypatch.setenv("TRACKER_TOKEN", TOKEN)
    monkeypatch.setenv("TRACKER_ORG_ID", "1")
    monkeypatch.setenv("TRACKER_CLOUD_ORG_ID", "2")

    ran = run_cli(capsys, "sync")
    line = assert_one_error_line(ran, 2)
    verbose = run_cli(capsys, "--verbose", "sync")

    assert "TRACKER_ORG_ID or TRACKER_CLOUD_ORG_ID, not both" in line
    assert "Traceback" in verbose.err
    texts = (ran.out, ran.err, verbose.out, verbose.err, caplog.text, files_under(tmp_path))
    assert leaked(TOKEN, *texts) == []
    assert leaked(PASSWORD, *texts) == []


def test_tracker_api_url_must_be_http_url_and_sync_stops_before_any_work(
    empty_database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = point_cli_at(monkeypatch, tmp_path, empty_database_url)
    monkeypatch.setenv("TRACKER_TOKEN", TOKEN)
    monkeypatch.setenv("TRACKER_ORG_ID", "1")
    monkeypatch.setenv("TRACKER_API_URL", "notaurl")

    line = assert_one_error_line(run_cli(capsys, "sync"), 2)

    assert line.startswith("radiator: error: TRACKER_API_URL: must be an http:// or https:// URL")
    assert (table_names(empty_database_url), (home / "logs").exists()) == (set(), False)


def test_cli_prints_one_line_and_exits_2_on_a_missing_tracker_token(
    empty_database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_cli_at(monkeypatch, tmp_path, empty_database_url)
    monkeypatch.delenv("TRACKER_TOKEN", raising=False)
    monkeypatch.setenv("TRACKER_ORG_ID", "1")

    line = assert_one_error_line(run_cli(capsys, "sync"), 2)

    assert "set TRACKER_TOKEN" in line
    assert table_names(empty_database_url) == set()


# --------------------------------------------------------------------------- metrics configuration


@pytest.mark.parametrize(
    ("text", "starts", "line_no"),
    [
        (ROLES_TYPO, "radiator: error: roles.in_development: 'Devv' is not one of the", 12),
        ("# nothing yet\n", "radiator: error: the file is empty", 1),
    ],
    ids=["roles naming unconfigured statuses", "an empty file"],
)
def test_cli_prints_one_line_and_exits_2_on_a_bad_config_file(
    text: str,
    starts: str,
    line_no: int,
    empty_database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_cli_at(monkeypatch, tmp_path, empty_database_url)
    monkeypatch.setenv("TRACKER_TOKEN", TOKEN)
    monkeypatch.setenv("TRACKER_ORG_ID", "1")
    config = tmp_path / "radiator.yaml"
    config.write_text(text, encoding="utf-8")

    line = assert_one_error_line(run_cli(capsys, "sync"), 2)

    assert line.startswith(starts)
    assert line.endswith(f"({config}, line {line_no})")
    assert table_names(empty_database_url) == set()


# --------------------------------------------------------------------------- the database


def test_postgres_scheme_url_is_accepted_by_every_db_command(
    database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    raw = database_url.set(drivername="postgres").render_as_string(hide_password=False)
    point_cli_at(monkeypatch, tmp_path, raw)

    shown = run_cli(capsys, "db", "url")
    checked = run_cli(capsys, "db", "check")
    upgraded = run_cli(capsys, "db", "upgrade")

    assert (shown.code, checked.code, upgraded.code) == (0, 0, 0)
    assert shown.out.startswith("postgresql+psycopg2://")
    assert "the schema matches the models" in checked.out


def test_cli_prints_one_line_and_exits_2_on_a_url_that_is_not_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    point_cli_at(monkeypatch, tmp_path, f"mysql://radiator:{PASSWORD}@db.example/radiator")

    ran = run_cli(capsys, "db", "url")
    line = assert_one_error_line(ran, 2)

    assert "RADIATOR_DATABASE_URL must be a PostgreSQL URL" in line
    assert leaked(PASSWORD, ran.out, ran.err, files_under(tmp_path)) == []


def test_cli_prints_one_line_and_exits_1_on_an_unreachable_database(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    home = point_cli_at(monkeypatch, tmp_path, UNREACHABLE)

    ran = run_cli(capsys, "db", "upgrade")
    line = assert_one_error_line(ran, 1)

    assert line.startswith("radiator: error: cannot use the database: ")
    assert "(postgresql+psycopg2://radiator:***@127.0.0.1:1/radiator)" in line
    assert "Traceback" in (home / "logs" / "radiator.log").read_text(encoding="utf-8")
    assert leaked(PASSWORD, ran.out, ran.err, caplog.text, files_under(tmp_path)) == []


def test_cli_prints_one_line_and_exits_1_on_a_database_that_is_not_migrated(
    empty_database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_cli_at(monkeypatch, tmp_path, empty_database_url)

    line = assert_one_error_line(run_cli(capsys, "export", "report_ttm_details"), 1)

    assert line.startswith("radiator: error: the warehouse is not migrated: ")
    assert line.endswith("run `radiator db upgrade`")


# --------------------------------------------------------------------------- anything else


def test_cli_prints_one_line_and_exits_1_on_an_unexpected_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = point_cli_at(monkeypatch, tmp_path, UNREACHABLE)

    def broken(_args: object) -> int:
        raise RuntimeError("something nobody planned for\nwith a second line")

    monkeypatch.setattr(cli, "_db_url", broken)
    ran = run_cli(capsys, "db", "url")
    line = assert_one_error_line(ran, 1)
    verbose = run_cli(capsys, "db", "url", "--verbose")

    assert line == (
        "radiator: error: RuntimeError: something nobody planned for: "
        "run with --verbose for the traceback"
    )
    assert "Traceback" in (home / "logs" / "radiator.log").read_text(encoding="utf-8")
    assert (verbose.code, "Traceback" in verbose.err, verbose.err_lines[-1]) == (1, True, line)
