"""The write lock cannot vanish unnoticed, the journal never keeps a dead step `running`, and
"deleted" means Tracker says so for that issue, not that it left the query."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from radiator_assets.emulator import Fault, TrackerEmulator
from radiator_assets.sync.changelog import ChangelogSyncResult, sync_changelogs
from radiator_assets.sync.issues import IssueSyncResult, sync_issues
from radiator_assets.sync.locking import SYNC_LOCK_ID, SyncLockLost, sync_lock
from radiator_assets.sync.sync_runs import ABANDONED, sync_step
from radiator_assets.tracker.errors import TrackerConfigError
from radiator_assets_tests.assets.conftest import (
    FIELDS,
    QUERY,
    count,
    fast_client,
    reference_snapshot,
    run_full_sync,
    table_snapshot,
)
from radiator_assets_tests.locked import locked

STALL_SECONDS = 20  # how long a test waits for fetches it expects (the emulator is local)


def _terminate_lock_holder(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return len(
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objid = :k AND granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"k": SYNC_LOCK_ID},
            ).all()
        )


def test_a_sync_whose_lock_connection_is_killed_stops_writing(
    tracker_env: TrackerEmulator, engine: sa.Engine, database_factory: Callable[[], URL]
) -> None:
    killed: list[int] = []

    def kill_after_first_batch(result: IssueSyncResult) -> None:
        if not killed:
            killed.append(_terminate_lock_holder(engine))

    with (
        pytest.raises(SyncLockLost, match="holding the sync lock was closed"),
        fast_client() as client,
        sync_lock(engine) as writer,
    ):
        sync_issues(
            writer,
            client,
            base_query=QUERY,
            fields=FIELDS,
            batch_size=10,
            progress=kill_after_first_batch,
        )

    assert killed == [1]
    assert count(engine, "SELECT count(*) FROM tracker_tasks") == 10  # nothing after the kill
    assert count(engine, "SELECT count(*) FROM tracker_sync_state") == 0
    # The lock went with the connection: the next sync takes it at once and finishes the job.
    run_full_sync(engine)
    assert table_snapshot(engine) == reference_snapshot(database_factory)


def test_a_sync_that_fails_mid_listing_releases_its_scroll_before_the_error_leaves(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    """The listing is closed where it fails, not whenever the garbage collector gets to it:
    a scroll released from a finalizer runs in whatever thread collects it, and once that was
    one of the emulator's own handler threads, which then waited 5 s on itself."""

    def fail_after_first_batch(result: IssueSyncResult) -> None:
        raise RuntimeError("stop here")

    with fast_client() as client, sync_lock(engine) as writer:
        try:
            sync_issues(
                writer,
                client,
                base_query=QUERY,
                fields=FIELDS,
                batch_size=10,
                progress=fail_after_first_batch,
            )
        except RuntimeError as error:
            # The error (and with it the failed call's frame) is still alive here.
            assert str(error) == "stop here"
            assert tracker_env.api.live_scrolls() == 0
            assert len(tracker_env.scroll_clears) == 1
        else:
            pytest.fail("the progress callback's error did not reach the caller")


def test_a_changelog_sync_that_fails_mid_way_has_stopped_its_fetch_threads_when_it_raises(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    with fast_client() as client:
        locked(sync_issues, engine, client, base_query=QUERY, fields=FIELDS, batch_size=25)

        def fail_after_first_batch(result: ChangelogSyncResult) -> None:
            raise RuntimeError("stop here")

        with sync_lock(engine) as writer:
            try:
                sync_changelogs(writer, client, batch_issues=5, progress=fail_after_first_batch)
            except RuntimeError as error:
                assert str(error) == "stop here"
                assert _fetch_threads() == []
            else:
                pytest.fail("the progress callback's error did not reach the caller")


def _fetch_threads() -> list[str]:
    """The changelog producer thread and the client's pool threads still alive."""
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("tracker-cl") or t.name == "changelog-fetch"
    ]


def _changelog_requests(emulator: TrackerEmulator) -> int:
    return sum(1 for r in emulator.requests if r.path.endswith("/changelog"))


def test_changelogs_are_fetched_while_a_batch_is_being_written(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    """The writer's progress callback holds the writer after its first batch of 5. Without a
    fetching thread of its own, the client asks for nothing new until the writer comes back
    for the next fetch: at most those 5 plus the client's `max_in_flight` requests."""
    with fast_client() as client:
        locked(sync_issues, engine, client, base_query=QUERY, fields=FIELDS, batch_size=25)
        tracker_env.reset_requests()
        sequential_limit = 5 + client.max_in_flight
        asked_while_writing: list[int] = []

        def hold_the_writer(result: ChangelogSyncResult) -> None:
            if asked_while_writing:
                return
            deadline = time.monotonic() + STALL_SECONDS
            while _changelog_requests(tracker_env) <= sequential_limit:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            asked_while_writing.append(_changelog_requests(tracker_env))

        result = locked(sync_changelogs, engine, client, batch_issues=5, progress=hold_the_writer)

    assert asked_while_writing[0] > sequential_limit
    assert result.tasks_fetched == count(engine, "SELECT count(*) FROM tracker_tasks") == 80
    assert result.entries_inserted == tracker_env.org.changelog_entry_count
    assert _fetch_threads() == []


def test_a_fetch_error_after_some_batches_keeps_them_and_leaves_no_thread(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    """Credentials refused half-way (401 from the 31st changelog on): the batches fetched
    before it are stored with their cursors, the error reaches the caller, no thread stays."""
    with fast_client() as client:
        locked(sync_issues, engine, client, base_query=QUERY, fields=FIELDS, batch_size=25)
        tracker_env.add_fault(Fault.http(401, r"/changelog", None, skip=30))
        with sync_lock(engine) as writer, pytest.raises(TrackerConfigError):
            sync_changelogs(writer, client, batch_issues=5)
        assert _fetch_threads() == []

    synced = "SELECT count(*) FROM tracker_tasks WHERE changelog_synced_updated_at IS NOT NULL"
    assert 5 <= count(engine, synced) <= 30
    assert count(engine, synced) % 5 == 0  # whole batches: cursors with their entries
    tracker_env.clear_faults()
    run_full_sync(engine)
    assert count(engine, "SELECT count(*) FROM tracker_changelog") == (
        tracker_env.org.changelog_entry_count
    )


def test_a_step_whose_lock_is_lost_is_journaled_as_failed(engine: sa.Engine) -> None:
    with pytest.raises(SyncLockLost), sync_step(engine, "history", "run-1") as step:
        _terminate_lock_holder(engine)
        step.save()

    with engine.connect() as conn:
        status, error = conn.execute(sa.text("SELECT status, error FROM tracker_sync_runs")).one()
    assert status == "failed"
    assert error.startswith("SyncLockLost")


def test_a_step_left_running_by_a_dead_process_is_failed_when_the_next_one_starts(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO tracker_sync_runs (kind, status) VALUES ('changelog', 'running')")
        )

    with sync_step(engine, "history", "run-2"):
        pass

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT kind, status, error FROM tracker_sync_runs ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("changelog", "failed", ABANDONED),
        ("history", "success", None),
    ]


def test_a_sync_waiting_for_the_lock_does_not_fail_the_holders_running_row(
    engine: sa.Engine,
) -> None:
    with sync_step(engine, "issues:incremental", "holder"):
        # A second step would wait here; the holder's own row must stay running meanwhile.
        assert count(engine, "SELECT count(*) FROM tracker_sync_runs WHERE status = 'running'") == 1
    assert count(engine, "SELECT count(*) FROM tracker_sync_runs WHERE status = 'success'") == 1


def _task(engine: sa.Engine, tracker_id: str) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT key, deleted_at, out_of_query_since FROM tracker_tasks "
                "WHERE tracker_id = :t"
            ),
            {"t": tracker_id},
        ).one()


def test_a_narrowed_query_marks_nothing_deleted(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    fullstack = count(engine, "SELECT count(*) FROM tracker_tasks WHERE queue = 'FULLSTACK'")
    assert fullstack > 0

    with fast_client() as client, sync_lock(engine) as writer:
        result = sync_issues(
            writer, client, base_query="Queue: CPO", fields=FIELDS, mode="reconcile"
        )

    assert result.marked_deleted == 0
    assert result.out_of_query == fullstack
    assert count(engine, "SELECT count(*) FROM tracker_tasks WHERE deleted_at IS NOT NULL") == 0
    assert (
        count(engine, "SELECT count(*) FROM tracker_tasks WHERE out_of_query_since IS NOT NULL")
        == fullstack
    )
    # Asking about absent issues costs a search per 50 keys, not a request per issue.
    assert tracker_env.request_count(r"/v2/issues/[^_/]+$") == 0

    run_full_sync(engine, mode="reconcile")  # the wide query again: back in scope
    assert (
        count(engine, "SELECT count(*) FROM tracker_tasks WHERE out_of_query_since IS NOT NULL")
        == 0
    )


def test_an_issue_moved_out_of_the_query_is_kept_and_one_deleted_is_marked(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    moved, deleted = [r.id for r in tracker_env.org.live() if r.queue == "CPO"][:2]
    tracker_env.move_issue(moved, "ARCHIVE")
    tracker_env.delete_issue(deleted)

    report = run_full_sync(engine, mode="reconcile")

    assert (report.issues.marked_deleted, report.issues.out_of_query) == (1, 1)
    assert _task(engine, moved).deleted_at is None
    assert _task(engine, moved).out_of_query_since is not None
    assert _task(engine, deleted).deleted_at is not None
