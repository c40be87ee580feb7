"""Putting report inputs into a test database.

* `add_task`: one task with its status changes, straight into `tracker_tasks` and
  `tracker_changelog` (call `build_history` afterwards, as the sync does);
* `load_org`: an emulated organisation (radiator_assets.emulator) written
  through the real write path, `sync_issues` / `sync_changelogs` / `build_history`,
  with in-process sources standing in for the HTTP client.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from radiator_assets.metrics.config import CustomFields
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets.sync.changelog import sync_changelogs
from radiator_assets.sync.history import build_history
from radiator_assets.sync.issues import sync_issues
from radiator_assets_tests.locked import locked

_entry_ids = itertools.count(1)


def relates(key: str, tracker_id: str | None = None, direction: str = "outward") -> dict[str, Any]:
    """A `relates` link to the task `key` as Tracker returns it."""
    return {
        "type": {"id": "relates", "inward": "relates", "outward": "relates"},
        "direction": direction,
        "object": {"id": tracker_id or f"id-{key}", "key": key, "display": key},
    }


def add_task(
    engine: sa.Engine,
    key: str,
    created: datetime,
    changes: Sequence[tuple[datetime, str]] = (),
    *,
    initial: str,
    author: str | None = "Author 1",
    summary: str | None = None,
    tracker_id: str | None = None,
    aliases: Sequence[str] = (),
    links: Sequence[dict[str, Any]] = (),
    parent_key: str | None = None,
    epic_key: str | None = None,
    deleted_at: datetime | None = None,
    queue: str | None = None,
) -> int:
    """Insert a task in status `initial` at `created`, then each (moment, new status) change."""
    statuses = [initial, *(status for _, status in changes)]
    with unit_of_work(engine) as conn:
        task_id = conn.scalar(
            sa.text(
                "INSERT INTO tracker_tasks (tracker_id, key, aliases, queue, summary, status, "
                "status_key, author, parent_key, epic_key, links, full_data, created_at, "
                "task_updated_at, deleted_at, history_stale) VALUES (:tid, :key, "
                "CAST(:aliases AS jsonb), :queue, :summary, :status, :status, :author, :parent, "
                ":epic, CAST(:links AS jsonb), '{}', :created, :updated, :deleted, true) "
                "RETURNING id"
            ),
            {
                "tid": tracker_id or f"id-{key}",
                "key": key,
                "aliases": json.dumps(list(aliases)),
                "queue": queue or key.split("-")[0],
                "summary": summary or f"Task {key}",
                "status": statuses[-1],
                "author": author,
                "parent": parent_key,
                "epic": epic_key,
                "links": json.dumps(list(links)),
                "created": created,
                "updated": changes[-1][0] if changes else created,
                "deleted": deleted_at,
            },
        )
        for (moment, status), previous in zip(changes, statuses, strict=False):
            conn.execute(
                sa.text(
                    "INSERT INTO tracker_changelog (id, task_id, updated_at, type, status_from, "
                    "status_from_key, status_to, status_to_key, raw) VALUES "
                    "(:id, :task, :at, 'IssueWorkflow', :f, :f, :t, :t, '{}')"
                ),
                {
                    "id": f"e{next(_entry_ids):012d}",
                    "task": task_id,
                    "at": moment,
                    "f": previous,
                    "t": status,
                },
            )
    return task_id


# --------------------------------------------------------------------------- emulator org


@dataclass
class _Fetch:
    issue_id: str
    entries: list[dict[str, Any]]
    gone: bool = False
    error: BaseException | None = None


class OrgSource:
    """The emulated organisation as an issue and changelog source, in process."""

    def __init__(self, org: Any) -> None:
        self.org = org

    def search(self, query: str) -> Generator[dict[str, Any]]:
        for record in self.org.records.values():
            if not record.deleted:
                yield {**record.data, "links": list(record.links)}

    def changelogs(self, items: Iterable[tuple[str, str | None]]) -> Generator[_Fetch]:
        for issue_id, cursor in items:
            record = self.org.records[issue_id]
            yield _Fetch(issue_id, list(record.changelog[record.entries_after(cursor) :]))


def load_org(engine: sa.Engine, org: Any) -> None:
    """Sync `org` into the database through the real write path."""
    source = OrgSource(org)
    fields = CustomFields(team="team", product_team="prodteam")
    locked(sync_issues, engine, source, base_query="Queue: CPO", fields=fields, mode="full")
    locked(sync_changelogs, engine, source)
    locked(build_history, engine)
