"""A sync against the emulator stores what Tracker holds; later syncs fetch only the news."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from radiator_assets.emulator import Fault, TrackerEmulator
from radiator_assets.emulator.truth import all_expected_stays
from radiator_assets.sync.changelog import sync_changelogs
from radiator_assets.sync.issues import sync_issues
from radiator_assets.tracker.errors import TrackerConfigError
from radiator_assets_tests.assets.conftest import (
    FIELDS,
    QUERY,
    count,
    fast_client,
    run_full_sync,
    table_snapshot,
)
from radiator_assets_tests.locked import locked


def _stored_stays(engine: sa.Engine) -> dict[str, list[tuple[str, object, object]]]:
    stays: dict[str, list[tuple[str, object, object]]] = {}
    with engine.connect() as conn:
        for r in conn.execute(
            sa.text(
                "SELECT tracker_id, status, start_date, end_date FROM tracker_task_history "
                "ORDER BY tracker_id, start_date"
            )
        ):
            stays.setdefault(r.tracker_id, []).append((r.status, r.start_date, r.end_date))
    return stays


def test_a_full_sync_stores_every_issue_entry_and_stay(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    report = run_full_sync(engine)

    org = tracker_env.org
    live = list(org.live())
    assert report.issues.seen == len(live)
    assert count(engine, "SELECT count(*) FROM tracker_tasks") == len(live)
    assert count(engine, "SELECT count(*) FROM tracker_changelog") == sum(
        len(r.changelog) for r in live
    )
    expected = {
        tracker_id: [(s.status_display, s.start, s.end) for s in stays]
        for tracker_id, stays in all_expected_stays(org).items()
    }
    assert _stored_stays(engine) == expected


def test_an_incremental_sync_fetches_only_the_changed_issues(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(hours=2))
    changed = tracker_env.add_changes(4, kind="status")
    tracker_env.reset_requests()

    report = run_full_sync(engine)

    assert report.issues.inserted == 0
    assert report.issues.updated == 4
    assert report.changelog.tasks_pending == 4
    assert report.changelog.entries_inserted == 4
    assert report.history.tasks_rebuilt == 4
    changelog_requests = tracker_env.request_count(r"/changelog")
    assert changelog_requests == 4
    # the overlap window holds only the changed issues: one search page
    assert tracker_env.request_count(r"/issues/_search") <= 2
    asked = {r.path.split("/")[3] for r in tracker_env.requests if r.path.endswith("/changelog")}
    assert asked == set(changed)


def test_a_second_sync_without_changes_writes_nothing(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    before = table_snapshot(engine)

    report = run_full_sync(engine)

    assert report.changelog.tasks_pending == 0
    assert report.history.tasks_rebuilt == 0
    assert table_snapshot(engine) == before


def test_a_moved_issue_keeps_its_row_with_the_old_key_as_alias(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    record = next(r for r in tracker_env.org.live() if r.queue == "CPO")
    old_key = record.key
    tracker_env.advance_clock(timedelta(minutes=30))
    new_key = tracker_env.move_issue(record.id, "FULLSTACK")

    report = run_full_sync(engine)

    assert report.issues.moved == 1
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT key, aliases FROM tracker_tasks WHERE tracker_id = :t"),
            {"t": record.id},
        ).one()
    assert row.key == new_key
    assert old_key in row.aliases
    assert count(engine, "SELECT count(*) FROM tracker_tasks") == len(list(tracker_env.org.live()))


def test_a_changelog_404_for_an_issue_that_still_exists_deletes_nothing(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    record = next(iter(tracker_env.org.live()))
    tracker_env.advance_clock(timedelta(minutes=30))
    tracker_env.add_changes([record.id], kind="update")
    tracker_env.add_fault(Fault.gone(record.id))  # only the changelog answers 404

    report = run_full_sync(engine)

    assert report.changelog.tasks_gone == 0
    assert report.changelog.tasks_quarantined == 1
    assert count(engine, "SELECT count(*) FROM tracker_tasks WHERE deleted_at IS NOT NULL") == 0
    assert _open_quarantine(engine) == [("changelog", record.id)]
    assert "issue itself exists" in _reasons(engine)[0]

    tracker_env.clear_faults()
    run_full_sync(engine)
    assert _open_quarantine(engine) == []


def test_an_issue_deleted_in_tracker_is_marked_deleted_and_keeps_its_history(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    record = next(iter(tracker_env.org.live()))
    stays_before = _stored_stays(engine)[record.id]
    tracker_env.advance_clock(timedelta(minutes=30))
    tracker_env.add_changes([record.id], kind="update")
    with fast_client() as client:
        locked(sync_issues, engine, client, base_query=QUERY, fields=FIELDS)
        tracker_env.delete_issue(record.id)  # between the listing and the changelog fetch
        result = locked(sync_changelogs, engine, client)

    assert result.tasks_gone == 1
    assert count(engine, "SELECT count(*) FROM tracker_tasks WHERE deleted_at IS NOT NULL") == 1
    assert _stored_stays(engine)[record.id] == stays_before


def test_a_failed_fetch_keeps_the_other_issues_and_is_retried_next_time(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(minutes=30))
    changed = tracker_env.add_changes(3, kind="status")
    broken = changed[0]
    cursor_before = _cursor(engine, broken)
    tracker_env.add_fault(Fault.http(500, rf"/issues/{broken}/changelog", None))

    report = run_full_sync(engine)

    assert report.changelog.tasks_quarantined == 1
    assert report.changelog.entries_inserted == 2
    assert report.history.tasks_rebuilt == 3  # history is built (status moved on all three)
    assert _cursor(engine, broken) == cursor_before
    assert _open_quarantine(engine) == [("changelog", broken)]
    tracker_env.clear_faults()
    report = run_full_sync(engine)
    assert report.changelog.tasks_pending == 1
    assert report.changelog.entries_inserted == 1
    assert report.changelog.tasks_recovered == 1
    assert _open_quarantine(engine) == []


def _cursor(engine: sa.Engine, tracker_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(
            sa.text("SELECT last_changelog_id FROM tracker_tasks WHERE tracker_id = :t"),
            {"t": tracker_id},
        )


def _open_quarantine(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT kind, ref FROM tracker_quarantine WHERE resolved_at IS NULL "
                    "ORDER BY kind, ref"
                )
            )
        ]


def _reasons(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.text("SELECT reason FROM tracker_quarantine ORDER BY id")))


def test_reconciliation_marks_issues_gone_from_tracker_as_deleted(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    victim = next(iter(tracker_env.org.live()))
    tracker_env.delete_issue(victim.id)

    report = run_full_sync(engine, mode="reconcile")

    assert report.issues.marked_deleted == 1
    with engine.connect() as conn:
        deleted = conn.scalars(
            sa.text("SELECT tracker_id FROM tracker_tasks WHERE deleted_at IS NOT NULL")
        ).all()
    assert deleted == [victim.id]


def test_a_403_on_one_issue_quarantines_that_issue_and_stores_the_others(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(minutes=30))
    changed = tracker_env.add_changes(5, kind="status")
    hidden = changed[0]
    tracker_env.add_fault(Fault.http(403, rf"/issues/{hidden}/changelog", None))

    report = run_full_sync(engine)

    assert report.changelog.entries_inserted == 4
    assert _open_quarantine(engine) == [("changelog", hidden)]
    assert "403" in _reasons(engine)[0]


def test_every_issue_refused_is_a_configuration_error_not_a_quarantine(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    tracker_env.advance_clock(timedelta(minutes=30))
    tracker_env.add_changes(25, kind="status")
    tracker_env.add_fault(Fault.http(403, r"/changelog", None))

    with pytest.raises(TrackerConfigError):
        run_full_sync(engine)


def test_reconcile_keeps_an_issue_it_may_not_see_and_deletes_nothing(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    run_full_sync(engine)
    hidden = next(r for r in tracker_env.org.live() if r.queue == "CPO")
    tracker_env.move_issue(hidden.id, "SECRET")  # into a queue we may not read
    tracker_env.add_fault(Fault.replace_body(b"[]", "fields=id", None))  # the search by keys
    tracker_env.add_fault(Fault.http(403, rf"/issues/{hidden.id}$", None))  # the direct GET

    report = run_full_sync(engine, mode="reconcile")

    assert (report.issues.marked_deleted, report.issues.out_of_query) == (0, 1)
    assert count(engine, "SELECT count(*) FROM tracker_tasks WHERE deleted_at IS NOT NULL") == 0
