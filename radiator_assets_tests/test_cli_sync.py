"""`radiator sync` as a person runs it: against the emulator and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import URL

from radiator_assets.emulator import Fault, TrackerEmulator, generate_org
from radiator_assets.settings import get_settings
from radiator_assets_tests.assets.conftest import recent_now
from radiator_assets_tests.cli_env import point_cli_at, run_cli, scalar, table_names


@pytest.fixture
def emulator(tracker_emulator_factory: Callable[..., TrackerEmulator]) -> TrackerEmulator:
    # A short span that ends now keeps the first sync's partitions (and Dagster's events) few.
    return tracker_emulator_factory(
        generate_org(seed=3, n_issues=40, span_days=20, now=recent_now())
    )


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


def test_first_sync_on_an_empty_external_database_migrates_first(
    emulator: TrackerEmulator,
    empty_database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert table_names(empty_database_url) == set()
    point_cli_at(monkeypatch, tmp_path, empty_database_url, emulator)

    ran = run_cli(capsys, "sync", "--no-reports")

    live = len(list(emulator.org.live()))
    assert ran.code == 0, ran.err[-3000:]
    assert f"issues:    {live} seen, {live} new" in ran.out
    # Quiet: no Dagster log on the console, only the warning that the bundled example
    # configuration is used; the run's event log is in a file.
    assert [line for line in ran.err_lines if not line.startswith("radiator: warning: ")] == []
    assert len(list((tmp_path / "home" / "logs").glob("sync-*.log"))) == 1
    assert scalar(empty_database_url, "SELECT count(*) FROM tracker_tasks") == live
    assert scalar(empty_database_url, "SELECT count(*) FROM tracker_changelog") == sum(
        len(record.changelog) for record in emulator.org.live()
    )


def test_cli_prints_one_line_per_failed_step_and_what_the_failed_run_stored(
    emulator: TrackerEmulator,
    database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = point_cli_at(monkeypatch, tmp_path, database_url, emulator)
    # The issue listing breaks for good after a few pages: the batches before are stored.
    monkeypatch.setenv("TRACKER_PER_SCROLL", "5")
    monkeypatch.setenv("RADIATOR_SYNC_BATCH_SIZE", "5")
    emulator.add_fault(Fault.http(400, "scrollId=", None, skip=3))

    ran = run_cli(capsys, "sync", "--no-reports")

    stored = scalar(database_url, "SELECT count(*) FROM tracker_tasks")
    run_id = scalar(database_url, "SELECT max(dagster_run_id) FROM tracker_sync_runs")
    assert ran.code == 1
    assert 20 <= stored < 40  # four pages of five, and what the restarted scrolls add
    assert f"issues:    FAILED after writing {stored} issues" in ran.out
    assert "changelog: not run (an earlier step failed)" in ran.out
    assert f"run:       {run_id} (FAILED)" in ran.out
    log_path = home.resolve() / "logs" / f"sync-{run_id}.log"
    # No radiator.yaml: the bundled example is used, and said so.
    warning, *restarts, error = ran.err_lines
    assert warning.startswith("radiator: warning: no metrics configuration at ")
    assert restarts  # each restart of the listing is said, until the retry budget is spent
    assert all("issue listing broke off" in r and "starting over" in r for r in restarts)
    assert error.startswith("radiator: error: ListingIncomplete: the issue listing broke off")
    assert error.endswith(f"(step tracker_issues): full log in {log_path}")
    full_log = log_path.read_text(encoding="utf-8")
    assert 'STEP_FAILURE: Execution of step "tracker_issues" failed.' in full_log
    assert "Stack Trace:" in full_log and "raise ListingIncomplete(" in full_log
    assert "Traceback" not in ran.out + ran.err
    # The token is in no output and no log, not even in part.
    logs = "\n".join(f.read_text(encoding="utf-8") for f in (home / "logs").iterdir())
    token = emulator.token
    assert [p for p in (token[:4], token[:8], token) if p in ran.out + ran.err + logs] == []


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("TRACKER_TOKEN", "a-token-tracker-does-not-know", "rejected the credentials (HTTP 401)"),
        ("TRACKER_ORG_ID", "not-our-organisation", "refused access (HTTP 403)"),
    ],
    ids=["token", "organisation"],
)
def test_credentials_tracker_refuses_are_a_configuration_error(
    emulator: TrackerEmulator,
    database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    said: str,
) -> None:
    point_cli_at(monkeypatch, tmp_path, database_url, emulator)
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()

    ran = run_cli(capsys, "sync", "--no-reports")

    assert ran.code == 2
    assert any(f"Tracker {said}" in line for line in ran.err_lines)


def test_a_sync_with_nothing_changed_asks_tracker_once_and_starts_no_run(
    emulator: TrackerEmulator,
    database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_cli_at(monkeypatch, tmp_path, database_url, emulator)
    assert run_cli(capsys, "sync").code == 0  # the first sync, reports included
    emulator.reset_requests()

    quiet = run_cli(capsys, "sync")

    assert quiet.code == 0, quiet.err[-3000:]
    assert "nothing changed in Tracker since" in quiet.out
    assert len(emulator.requests) == 1
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 1

    emulator.advance_clock(timedelta(hours=1))
    emulator.add_changes(2, kind="status")
    emulator.reset_requests()
    busy = run_cli(capsys, "sync")

    assert busy.code == 0, busy.err[-3000:]
    assert "nothing changed" not in busy.out
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    assert [r.job_name for r in runs] == ["tracker_sync", "tracker_sync"]
    assert {r.tags.get("dagster/partition") for r in runs} == {
        None,  # the first sync: a range of every month
        datetime.now(UTC).date().replace(day=1).isoformat(),
    }


def test_radiator_pictures_draws_what_the_sync_did_not_and_keeps_what_did_not_change(
    emulator: TrackerEmulator,
    database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_cli_at(monkeypatch, tmp_path, database_url, emulator)
    assert run_cli(capsys, "sync").code == 0  # tracker_sync: the report tables only
    reports_dir = get_settings().reports_dir
    assert not list(reports_dir.glob("*.png"))

    drawn = run_cli(capsys, "pictures")

    assert drawn.code == 0, drawn.err[-3000:]
    paths = [Path(line) for line in drawn.out.splitlines() if line.endswith(".png")]
    assert sorted(p.name for p in paths) == [
        "aging_wip.png",
        "cumulative_flow.png",
        "status_activity.png",
        "trends.png",
        "ttm_heatmap_mean.png",
        "ttm_heatmap_median.png",
        "ttm_heatmap_p85.png",
    ]
    assert all(p.parent == reports_dir and p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    assert drawn.out.splitlines()[-1].startswith("7 of 7 redrawn (run ")

    again = run_cli(capsys, "pictures")
    assert again.out.splitlines()[-1].startswith("0 of 7 redrawn (run ")
    with dg.DagsterInstance.get() as instance:
        jobs = [r.job_name for r in instance.get_runs()]
    assert jobs == ["pictures", "pictures", "tracker_sync"]
    # the pictures are no report table: a sync with nothing changed still starts no run
    assert "nothing changed in Tracker since" in run_cli(capsys, "sync").out
