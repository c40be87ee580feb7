"""`radiator sync --keys FILE` and `--query Q`: an ad-hoc sync of given issues, against the
emulator over loopback and a real PostgreSQL."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from radiator_assets.automation.jobs import GIVEN_TAG
from radiator_assets.emulator import Fault, TrackerEmulator, generate_org
from radiator_assets.emulator.querylang import parse_query
from radiator_assets.settings import get_settings
from radiator_assets.storage.engine import create_engine
from radiator_assets.sync.by_keys import KeyInputError, parse_keys, sync_by_keys
from radiator_assets.sync.changelog import sync_changelogs
from radiator_assets.sync.history import build_history
from radiator_assets_tests.assets.conftest import (
    FIELDS,
    fast_client,
    recent_now,
    reference_snapshot,
    table_snapshot,
)
from radiator_assets_tests.cli_env import QUERY, point_cli_at, run_cli
from radiator_assets_tests.locked import locked

SYNC = ["sync", "--no-reports"]
KEYS_SEARCH = "/v2/issues/_search"
STALL_SECONDS = 120


@pytest.fixture
def emulator(tracker_emulator_factory: Callable[..., TrackerEmulator]) -> TrackerEmulator:
    return tracker_emulator_factory(
        generate_org(seed=3, n_issues=40, span_days=20, now=recent_now())
    )


@pytest.fixture
def engine_for(database_url: URL) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cli(
    emulator: TrackerEmulator,
    database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Callable[..., Any]]:
    point_cli_at(monkeypatch, tmp_path, database_url, emulator)
    yield lambda *argv: run_cli(capsys, *argv)
    get_settings.cache_clear()


def keys_file(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "keys.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def restricted(snapshot: dict[str, set[tuple[Any, ...]]], ids: set[str]) -> dict[str, set]:
    """The rows of a `table_snapshot` that belong to the issues `ids`."""
    column = {"tasks": 0, "changelog": 1, "history": 0}
    return {name: {r for r in snapshot[name] if r[column[name]] in ids} for name in snapshot}


def state(engine: Engine) -> list[tuple[Any, ...]]:
    return rows(
        engine,
        "SELECT query, high_water_mark, listed_at, issues_listed FROM "
        "tracker_sync_state ORDER BY query",
    )


def keys_searched(emulator: TrackerEmulator) -> list[list[str]]:
    return [
        r.json()["keys"]
        for r in emulator.requests
        if r.path == KEYS_SEARCH and isinstance(r.json(), dict) and "keys" in r.json()
    ]


# --- reading the keys -------------------------------------------------------------------------


def test_keys_are_read_one_a_line_without_blanks_comments_or_repeats() -> None:
    text = "# sprint 12\nCPO-1\n\n  fullstack-7  # moved?\nCPO-1\nDEV-1\n"

    assert parse_keys(io.StringIO(text)) == ["CPO-1", "FULLSTACK-7", "DEV-1"]


def test_a_malformed_key_names_its_line_and_nothing_else_is_used() -> None:
    with pytest.raises(KeyInputError, match=r"line 2: 'CPO 1'; line 4: 'https://x'"):
        parse_keys(io.StringIO("CPO-1\nCPO 1\n# fine\nhttps://x\n"))
    with pytest.raises(KeyInputError, match="no issue key given"):
        parse_keys(io.StringIO("# nothing\n\n"))


def test_bad_keys_file_is_exit_2_before_any_request(
    cli: Callable[..., Any], emulator: TrackerEmulator, tmp_path: Path
) -> None:
    ran = cli(*SYNC, "--keys", keys_file(tmp_path, "CPO-1", "not a key"))

    assert ran.code == 2
    assert ran.err_lines == [
        f"radiator: error: not an issue key like CPO-123: line 2: 'not a key' "
        f"({tmp_path / 'keys.txt'}): one issue key a line (blank lines and # comments "
        "are ignored)"
    ]
    assert emulator.requests == []
    assert cli(*SYNC, "--keys", "x.txt", "--mode", "full").code == 2


# --- what is stored, and what is left alone ---------------------------------------------------


def test_keys_sync_stores_exactly_the_given_issues_with_changelog_and_stays(
    cli: Callable[..., Any],
    emulator: TrackerEmulator,
    engine_for: Engine,
    database_factory: Callable[[], URL],
    tmp_path: Path,
) -> None:
    outside = emulator.create_issue("PROD")["key"]  # not in TRACKER_QUERY
    given = ["CPO-1", "FULLSTACK-4", "DEV-1", outside]  # DEV-1: the old key of FULLSTACK-9
    path = keys_file(tmp_path, "# ad hoc", *given[:2], "", given[2], given[3].lower())

    ran = cli(*SYNC, "--keys", path, "--batch-size", "3")

    assert ran.code == 0, ran.err
    assert "4 keys given (keys: 4 keys), 2 batches of which 0 stored by an earlier run, " in ran.out
    assert "4 found, 4 new" in ran.out
    stored = rows(engine_for, "SELECT key, aliases::text FROM tracker_tasks ORDER BY key")
    assert stored == sorted(
        [("CPO-1", "[]"), ("FULLSTACK-4", "[]"), ("FULLSTACK-9", '["DEV-1"]'), (outside, "[]")]
    )
    ids = {emulator.org.resolve(key).id for key in given}
    assert rows(engine_for, "SELECT count(*) FROM tracker_changelog") == [
        (sum(len(emulator.org.resolve(key).changelog) for key in given),)
    ]
    # Changelog and stays exactly as a full sync of the query stores them for these issues.
    in_query = ids - {emulator.org.resolve(outside).id}
    assert restricted(table_snapshot(engine_for), in_query) == restricted(
        reference_snapshot(database_factory), in_query
    )
    assert rows(engine_for, "SELECT count(*) FROM tracker_task_history") != [(0,)]
    assert state(engine_for) == []  # no listing of the configured query happened


def test_mark_stays_the_next_incremental_lists_all_changes_and_reconcile_marks_nothing_gone(
    cli: Callable[..., Any],
    emulator: TrackerEmulator,
    engine_for: Engine,
    database_factory: Callable[[], URL],
    tmp_path: Path,
) -> None:
    assert cli(*SYNC).code == 0
    before = state(engine_for)
    emulator.advance_clock(timedelta(hours=3))
    changed = emulator.add_changes(8, kind="status")
    changed_keys = sorted(emulator.org.resolve(i).key for i in changed)

    ran = cli(*SYNC, "--keys", keys_file(tmp_path, *changed_keys[:2]))

    assert ran.code == 0, ran.err
    assert state(engine_for) == before  # the mark, its time and its count unchanged
    incremental = cli(*SYNC)
    assert incremental.code == 0, incremental.err
    # All eight changed issues are listed again; the two given ones are already current.
    listed = re.search(r"issues:    (\d+) seen, 0 new, 6 updated, (\d+) unchanged", incremental.out)
    assert listed is not None, incremental.out
    assert int(listed[1]) >= len(changed) and int(listed[2]) >= 2
    assert state(engine_for) != before
    assert table_snapshot(engine_for) == reference_snapshot(database_factory)

    reconcile = cli(*SYNC, "--mode", "reconcile")

    assert reconcile.code == 0, reconcile.err
    assert "0 deleted in Tracker, 0 out of the query" in reconcile.out
    assert rows(
        engine_for,
        "SELECT count(*) FROM tracker_tasks WHERE deleted_at IS NOT NULL "
        "OR out_of_query_since IS NOT NULL",
    ) == [(0,)]


def test_reconcile_after_an_ad_hoc_sync_on_an_empty_warehouse_marks_only_the_outsider(
    cli: Callable[..., Any], emulator: TrackerEmulator, engine_for: Engine, tmp_path: Path
) -> None:
    outside = emulator.create_issue("PROD")["key"]
    moved_out = emulator.org.resolve("FULLSTACK-9").key  # given by its old key DEV-1

    adhoc = cli(*SYNC, "--keys", keys_file(tmp_path, "CPO-2", outside, "DEV-1"))

    # the outsider counts in the reports until the reconcile: the sync says so, not an error
    assert adhoc.code == 0, adhoc.err
    assert "3 found, 3 new" in adhoc.out and "1 outside the configured query" in adhoc.out
    assert [line for line in adhoc.err_lines if "outside" in line] == [
        f"radiator: warning: 1 given issue(s) are outside the configured query (TRACKER_QUERY: "
        f"{QUERY}): they count in the reports until the nightly reconcile (`radiator sync "
        f"--mode reconcile`) marks them out of the query: {outside}"
    ]
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("tracker_issues"))
    metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
    assert (
        metadata["configured_query"].value,
        metadata["keys_outside_query"].value,
        metadata["keys_outside_query_count"].value,
    ) == (QUERY, outside, 1)
    assert moved_out.startswith("FULLSTACK-")
    assert rows(engine_for, "SELECT out_of_query_since FROM tracker_tasks") == [(None,)] * 3

    reconcile = cli(*SYNC, "--mode", "reconcile")

    live = len(list(emulator.org.live()))
    assert reconcile.code == 0, reconcile.err
    assert "0 deleted in Tracker, 1 out of the query" in reconcile.out
    assert rows(
        engine_for,
        "SELECT key, deleted_at IS NULL, out_of_query_since IS NOT NULL FROM tracker_tasks "
        "WHERE deleted_at IS NOT NULL OR out_of_query_since IS NOT NULL",
    ) == [(outside, True, True)]
    assert rows(engine_for, "SELECT count(*) FROM tracker_tasks") == [(live,)]


def test_a_refused_outside_query_question_is_a_warning_and_the_issues_stay_stored(
    cli: Callable[..., Any], emulator: TrackerEmulator, engine_for: Engine, tmp_path: Path
) -> None:
    outside = emulator.create_issue("PROD")["key"]
    # the question "which of these does TRACKER_QUERY match" is the only scroll of the run
    emulator.add_fault(Fault.http(400, r"_search\?.*scrollType", None))

    adhoc = cli(*SYNC, "--keys", keys_file(tmp_path, "CPO-2", outside))

    assert adhoc.code == 0, adhoc.err
    assert "2 found, 2 new" in adhoc.out
    assert any("could not ask Tracker which given issues" in line for line in adhoc.err_lines), (
        adhoc.err
    )
    assert sorted(k for (k,) in rows(engine_for, "SELECT key FROM tracker_tasks")) == sorted(
        ["CPO-2", outside]
    )


def test_unknown_keys_are_listed_and_exit_3_while_the_others_are_stored(
    cli: Callable[..., Any], emulator: TrackerEmulator, engine_for: Engine, tmp_path: Path
) -> None:
    emulator.delete_issue("CPO-3")
    path = keys_file(tmp_path, "CPO-1", "CPO-999", "CPO-3", "NOPE-1")

    ran = cli(*SYNC, "--keys", path)

    assert ran.code == 3
    assert "4 keys given" in ran.out and "1 found" in ran.out and "3 not found" in ran.out
    assert (
        "radiator: warning: 3 key(s) not found in Tracker (404), nothing stored for them: "
        "CPO-999, CPO-3, NOPE-1"
    ) in ran.err_lines
    assert rows(engine_for, "SELECT key, deleted_at FROM tracker_tasks") == [("CPO-1", None)]
    assert rows(engine_for, "SELECT not_found FROM tracker_key_sync_batches") == [
        (["CPO-999", "CPO-3", "NOPE-1"],)
    ]
    # In the UI: a run of the named job, its keys in the run config and in a tag.
    run_id = re.search(r"run:       (\S+) \(success\)", ran.out)[1]
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
    assert run.job_name == "tracker_sync"
    assert run.run_config["ops"]["tracker_issues"]["config"]["keys"] == [
        "CPO-1",
        "CPO-999",
        "CPO-3",
        "NOPE-1",
    ]
    assert run.tags[GIVEN_TAG] == "keys: 4 (CPO-1, CPO-999, CPO-3, NOPE-1)"


def test_keys_from_standard_input(
    cli: Callable[..., Any],
    engine_for: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("FULLSTACK-2\n# done\nfullstack-3\n"))

    ran = cli(*SYNC, "--keys", "-")

    assert ran.code == 0, ran.err
    assert rows(engine_for, "SELECT key FROM tracker_tasks ORDER BY key") == [
        ("FULLSTACK-2",),
        ("FULLSTACK-3",),
    ]


def test_a_keys_file_saved_with_a_bom_and_crlf_line_ends_is_read(
    cli: Callable[..., Any], engine_for: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "excel.txt"  # Notepad / Excel "CSV UTF-8"
    path.write_bytes(b"\xef\xbb\xbfFULLSTACK-2\r\nFULLSTACK-3\r\n")

    ran = cli(*SYNC, "--keys", str(path))

    assert ran.code == 0, ran.err
    assert rows(engine_for, "SELECT key FROM tracker_tasks ORDER BY key") == [
        ("FULLSTACK-2",),
        ("FULLSTACK-3",),
    ]


def test_keys_from_standard_input_are_utf8_with_or_without_a_bom_whatever_the_locale(
    cli: Callable[..., Any], engine_for: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = io.BytesIO(b"\xef\xbb\xbfFULLSTACK-2\nfullstack-3\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(piped, encoding="cp1251"))

    ran = cli(*SYNC, "--keys", "-")

    assert ran.code == 0, ran.err
    assert rows(engine_for, "SELECT key FROM tracker_tasks ORDER BY key") == [
        ("FULLSTACK-2",),
        ("FULLSTACK-3",),
    ]


def test_query_selects_what_the_query_language_matches(
    cli: Callable[..., Any], emulator: TrackerEmulator, engine_for: Engine
) -> None:
    query = 'Queue: CPO AND Created: < "2100-01-01"'
    matched = parse_query(query).predicate
    expected = sorted(r.key for r in emulator.org.live() if matched(r))
    assert 0 < len(expected) < len(list(emulator.org.live()))

    ran = cli(*SYNC, "--query", query, "--batch-size", "5")

    assert ran.code == 0, ran.err
    assert rows(engine_for, "SELECT key FROM tracker_tasks ORDER BY key") == [
        (key,) for key in expected
    ]
    assert rows(engine_for, "SELECT count(*) FROM tracker_key_sync_batches") == [
        (-(-len(expected) // 5),)
    ]
    assert state(engine_for) == []


def test_the_same_input_after_a_finished_run_is_synced_again(
    cli: Callable[..., Any], emulator: TrackerEmulator, engine_for: Engine, tmp_path: Path
) -> None:
    path = keys_file(tmp_path, "CPO-1", "CPO-2")
    assert cli(*SYNC, "--keys", path).code == 0
    moved_to = "open" if emulator.org.resolve("CPO-1").status["key"] != "open" else "closed"
    emulator.set_status("CPO-1", moved_to)
    emulator.reset_requests()

    ran = cli(*SYNC, "--keys", path)

    assert ran.code == 0, ran.err
    assert "0 stored by an earlier run, 2 found, 0 new, 1 updated, 1 unchanged" in ran.out
    assert keys_searched(emulator) == [["CPO-1", "CPO-2"]]
    assert rows(engine_for, "SELECT status_key FROM tracker_tasks WHERE key = 'CPO-1'") == [
        (moved_to,)
    ]


# --- killed and started again -----------------------------------------------------------------


def _uninterrupted(database_factory: Callable[[], URL], keys: list[str]) -> dict[str, set]:
    """The tables one uninterrupted ad-hoc sync of `keys` leaves in a fresh database."""
    engine = create_engine(database_factory())
    try:
        with fast_client() as client:
            locked(sync_by_keys, engine, client, fields=FIELDS, keys=keys, batch_size=3)
            locked(sync_changelogs, engine, client)
        locked(build_history, engine)
        return table_snapshot(engine)
    finally:
        engine.dispose()


def test_a_killed_keys_sync_resumes_without_refetching_committed_batches(
    cli: Callable[..., Any],
    emulator: TrackerEmulator,
    engine_for: Engine,
    database_factory: Callable[[], URL],
    tmp_path: Path,
) -> None:
    keys = [r.key for r in emulator.org.live()][:10]
    path = keys_file(tmp_path, *keys)
    argv = [*SYNC, "--keys", path, "--batch-size", "3"]
    # The second batch's search hangs: the first batch is committed, the rest is not.
    emulator.add_fault(Fault("slow", r"_search$", 1, delay=STALL_SECONDS, skip=1))
    log = (tmp_path / "killed.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "radiator_assets.cli", *argv],
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STALL_SECONDS
        while not any(r.fault == "slow" for r in emulator.requests):
            assert process.poll() is None, (tmp_path / "killed.log").read_text()
            assert time.monotonic() < deadline, "the second batch was never asked for"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    emulator.clear_faults()
    assert rows(engine_for, "SELECT key FROM tracker_tasks ORDER BY key") == sorted(
        (key,) for key in keys[:3]
    )
    assert rows(engine_for, "SELECT count(*) FROM tracker_changelog") == [(0,)]
    emulator.reset_requests()

    ran = cli(*argv)

    assert ran.code == 0, ran.err
    assert "4 batches of which 1 stored by an earlier run, 7 found" in ran.out
    assert keys_searched(emulator) == [keys[3:6], keys[6:9], keys[9:]]
    changelog_issues = {r.path.split("/")[3] for r in emulator.requests if "changelog" in r.path}
    assert changelog_issues == {emulator.org.resolve(key).id for key in keys}
    assert table_snapshot(engine_for) == _uninterrupted(database_factory, keys)
    assert rows(engine_for, "SELECT count(*) FROM tracker_sync_runs WHERE status = 'running'") == [
        (0,)
    ]


def test_an_input_whose_changelogs_are_left_resumes_them_and_is_new_once_they_are_done(
    cli: Callable[..., Any], emulator: TrackerEmulator, engine_for: Engine
) -> None:
    keys = ["CPO-1", "CPO-2", "FULLSTACK-1"]
    first = emulator.org.resolve("CPO-1").id

    def by_keys() -> Any:
        emulator.reset_requests()
        with fast_client() as client:
            return locked(sync_by_keys, engine_for, client, fields=FIELDS, keys=keys, batch_size=2)

    assert by_keys().batches == 2  # snapshots stored; the changelog step has not run (killed)
    resumed = by_keys()
    assert (resumed.batches, resumed.batches_stored_before) == (0, 2)
    assert keys_searched(emulator) == []
    # The changelogs: one fails for good and waits in the quarantine, the others are stored.
    emulator.add_fault(Fault.http(500, rf"/issues/{first}/changelog", None))
    with fast_client() as client:
        changelog = locked(sync_changelogs, engine_for, client)
    assert changelog.tasks_quarantined == 1 and changelog.tasks_with_new_entries == 2

    again = by_keys()  # finished (the quarantined one is every sync's to retry): a new sync

    assert (again.batches, again.batches_stored_before, again.unchanged) == (2, 0, 3)
    assert keys_searched(emulator) == [keys[:2], keys[2:]]
