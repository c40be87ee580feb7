"""What an incremental sync would find (`sync_need`): the one question `radiator sync` and
the sensor ask before starting a run. A real database; the search answered by a stub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.sync import quarantine
from radiator_assets.sync.changes import sync_need
from radiator_assets.sync.marks import record_complete_listing

QUERY = "Queue: CPO"
MARK = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=10)


class Search:
    """Answers the overlap window's search with the issues given."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        self.issues = issues
        self.calls = 0

    def search_page(
        self, query: str, *, page: int = 1, per_page: int = 50
    ) -> tuple[list[dict[str, Any]], int]:
        self.calls += 1
        return self.issues, len(self.issues)


def stored(engine: Engine, tracker_id: str, updated: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tracker_tasks (tracker_id, key, full_data, task_updated_at, "
                "changelog_synced_updated_at, history_stale) "
                "VALUES (:i, :i, '{}', :u, :u, false)"
            ),
            {"i": tracker_id, "u": updated},
        )
        record_complete_listing(conn, QUERY, MARK, 1)


def issue(tracker_id: str, updated: datetime) -> dict[str, Any]:
    return {"id": tracker_id, "key": tracker_id, "updatedAt": updated.isoformat()}


def test_an_issue_stored_as_listed_inside_the_overlap_is_no_news(engine: Engine) -> None:
    at_mark = MARK - timedelta(minutes=3)
    stored(engine, "a", at_mark)
    search = Search([issue("a", at_mark)])
    need = sync_need(engine, search, QUERY, OVERLAP)
    assert need.nothing and search.calls == 1


def test_an_issue_tracker_indexed_late_inside_the_overlap_is_news(engine: Engine) -> None:
    stored(engine, "a", MARK - timedelta(minutes=3))
    late = MARK - timedelta(minutes=2)  # updated before the mark, listed only now
    need = sync_need(
        engine, Search([issue("a", MARK - timedelta(minutes=3)), issue("b", late)]), QUERY, OVERLAP
    )
    assert not need.nothing
    assert need.changes is not None and need.changes.count == 1 and need.changes.newest == late


def test_a_record_waiting_in_the_quarantine_is_work_to_do(engine: Engine) -> None:
    stored(engine, "a", MARK - timedelta(minutes=3))
    with engine.begin() as conn:
        quarantine.put(conn, [quarantine.BadRecord("changelog", "a", "HTTP 500", "a")])
    need = sync_need(engine, Search([]), QUERY, OVERLAP)
    assert need.quarantined and not need.nothing
