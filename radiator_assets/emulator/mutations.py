"""Changes to a live emulated organisation, for incremental-sync tests.

Every mutation happens at the emulator's clock (`org.tick()`, one second per
change, so ids and timestamps strictly increase), under the org lock, and
copy-on-write, so it is safe while the server is answering requests.
Ground truth (`record.walk`) is updated together with the served JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from radiator_assets.emulator.catalog import (
    ALL_STATUSES,
    AUTHORS,
    CANCELLED,
    CPO_DONE,
    CPO_IN_DEV,
    CPO_OPEN,
    CPO_PATH,
    FS_DONE,
    FS_OPEN,
    FS_PATH,
    PAUSED,
    PRODUCT_QUEUE,
    PRODUCT_TEAMS,
    QUEUES,
    RELATES,
    SUBTASK,
    TASK_TYPE,
    TEAMS,
    Status,
    prodteam_field,
    team_field,
)
from radiator_assets.emulator.entries import (
    created_entry,
    moved_entry,
    status_entry,
    update_entry,
)
from radiator_assets.emulator.generator import (
    RESOLVED_STATUSES,
    add_link,
    resolution_for,
)
from radiator_assets.emulator.model import IssueRecord, Org, fmt_ts


class UnknownIssue(KeyError):
    """The id or key names no live issue."""


def _record(org: Org, id_or_key: str) -> IssueRecord:
    record = org.resolve(id_or_key)
    if record is None:
        raise UnknownIssue(id_or_key)
    return record


def _issue_ref(record: IssueRecord) -> dict[str, str]:
    return {"id": record.id, "key": record.key, "display": record.data.get("summary", "")}


def advance_clock(org: Org, delta: timedelta) -> datetime:
    """Move the emulated clock forward; returns the new time."""
    with org.lock:
        org.now += delta
        return org.now


def next_status(record: IssueRecord) -> Status:
    """The natural next status along the issue's queue workflow."""
    path = CPO_PATH if record.queue == PRODUCT_QUEUE else FS_PATH
    done = CPO_DONE if record.queue == PRODUCT_QUEUE else FS_DONE
    current = record.status
    if current["key"] in RESOLVED_STATUSES:
        return CPO_IN_DEV if record.queue == PRODUCT_QUEUE else FS_PATH[1]
    if current is PAUSED or current is CANCELLED:
        return path[1]
    keys = [s["key"] for s in path]
    if current["key"] in keys:
        i = keys.index(current["key"])
        return path[i + 1] if i + 1 < len(path) else done
    return path[1]


def set_status(
    org: Org, id_or_key: str, status: str | Status, *, author: dict[str, str] | None = None
) -> dict[str, Any]:
    """Change one issue's status now (an IssueWorkflow entry); returns the entry."""
    new = ALL_STATUSES[status] if isinstance(status, str) else status
    with org.lock:
        record = _record(org, id_or_key)
        old = record.status
        if old["key"] == new["key"]:
            raise ValueError(f"{record.key} is already in {new['key']}")
        when = org.tick()
        who = author or AUTHORS[0]
        entry = status_entry(
            org.new_id(when),
            _issue_ref(record),
            when,
            False,
            who,
            old,
            new,
            record.walk[-1][1],
            resolved=resolution_for(new) is not None,
            was_resolved=resolution_for(old) is not None,
        )
        record.append_entry(entry)
        record.walk.append((new, when))
        record.updated_at = when
        changes: dict[str, Any] = {
            "status": new,
            "previousStatus": old,
            "statusStartTime": fmt_ts(when),
            "updatedAt": fmt_ts(when),
            "updatedBy": who,
            "version": record.data.get("version", 0) + 1,
            "resolution": resolution_for(new),
        }
        org.replace_data(record, **changes)
        return entry


def update_field(
    org: Org, id_or_key: str, field_id: str, value: Any, *, author: dict[str, str] | None = None
) -> dict[str, Any]:
    """Change one non-status field now (an IssueUpdated entry); returns the entry."""
    with org.lock:
        record = _record(org, id_or_key)
        when = org.tick()
        who = author or AUTHORS[0]
        old = record.data.get(field_id)
        entry = update_entry(
            org.new_id(when), _issue_ref(record), when, False, who, [(field_id, old, value)]
        )
        record.append_entry(entry)
        record.updated_at = when
        org.replace_data(
            record,
            **{
                field_id: value,
                "updatedAt": fmt_ts(when),
                "updatedBy": who,
                "version": record.data.get("version", 0) + 1,
            },
        )
        return entry


def add_changes(
    org: Org,
    issues: Iterable[str] | int = 1,
    *,
    kind: Literal["status", "update", "auto"] = "auto",
    per_issue: int = 1,
) -> list[str]:
    """Append `per_issue` new changelog entries to each issue (ids/keys, or a count of
    issues picked deterministically); returns the ids of the issues changed.

    `kind="status"` walks each issue one step along its workflow, `"update"`
    edits its summary, `"auto"` alternates (status first).
    """
    with org.lock:
        if isinstance(issues, int):
            live = [r.id for r in org.live()]
            targets = org.rng.sample(live, min(issues, len(live)))
        else:
            targets = [_record(org, i).id for i in issues]
        for rid in targets:
            for n in range(per_issue):
                record = org.records[rid]
                if kind == "status" or (kind == "auto" and n % 2 == 0):
                    set_status(org, rid, next_status(record))
                else:
                    summary = f"{record.data.get('summary', 'Issue')} (edited)"
                    update_field(org, rid, "summary", summary)
        return targets


def create_issue(
    org: Org,
    queue: str = PRODUCT_QUEUE,
    *,
    summary: str | None = None,
    team: str | None = None,
    author: dict[str, str] | None = None,
    relates_to: str | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    """A new issue created now (IssueCreated entry, initial status); returns its JSON."""
    with org.lock:
        when = org.tick()
        rid = org.new_id(when)
        key = org.new_key(queue)
        who = author or AUTHORS[0]
        initial = CPO_OPEN if queue == PRODUCT_QUEUE else FS_OPEN
        text = summary or f"New issue {key}"
        data: dict[str, Any] = {
            "id": rid,
            "key": key,
            "version": 1,
            "summary": text,
            "description": None,
            "queue": QUEUES.get(queue, {"id": "0", "key": queue, "display": queue}),
            "type": TASK_TYPE,
            "status": initial,
            "statusStartTime": fmt_ts(when),
            "createdAt": fmt_ts(when),
            "updatedAt": fmt_ts(when),
            "createdBy": who,
            "updatedBy": who,
            "assignee": None,
            "followers": [who],
            "tags": [],
        }
        if queue in QUEUES and queue in (PRODUCT_QUEUE, "FULLSTACK"):
            data[team_field(queue)] = team or TEAMS[0]
            if queue == PRODUCT_QUEUE:
                data[prodteam_field(queue)] = PRODUCT_TEAMS[0]
        record = IssueRecord(
            id=rid, key=key, queue=queue, data=data, created_at=when, updated_at=when
        )
        record.append_entry(created_entry(org.new_id(when), _issue_ref(record), when, False, who))
        record.walk.append((initial, when))
        if parent:
            parent_record = _record(org, parent)
            data["parent"] = _issue_ref(parent_record)
            add_link(org, parent_record, record, SUBTASK, when)
        org.add(record)
        if relates_to:
            add_link(org, record, _record(org, relates_to), RELATES, when)
        return record.data


def delete_issue(org: Org, id_or_key: str) -> None:
    """Delete an issue: GET and changelog answer 404, search no longer finds it."""
    with org.lock:
        record = _record(org, id_or_key)
        record.deleted = True


def move_issue(org: Org, id_or_key: str, queue: str) -> str:
    """Move an issue to another queue now: new key, old key kept in `aliases`,
    an IssueMoved entry. Returns the new key."""
    with org.lock:
        record = _record(org, id_or_key)
        when = org.tick()
        old_key, old_queue = record.key, record.queue
        new_key = org.new_key(queue)
        who = AUTHORS[0]
        record.key, record.queue = new_key, queue
        entry = moved_entry(
            org.new_id(when),
            _issue_ref(record),
            when,
            False,
            who,
            old_key,
            new_key,
            QUEUES.get(old_queue, {"key": old_queue}),
            QUEUES.get(queue, {"key": queue}),
        )
        record.append_entry(entry)
        record.updated_at = when
        org.replace_data(
            record,
            key=new_key,
            aliases=[*record.aliases, old_key],
            queue=QUEUES.get(queue, {"id": "0", "key": queue, "display": queue}),
            updatedAt=fmt_ts(when),
            updatedBy=who,
            version=record.data.get("version", 0) + 1,
        )
        org.by_key[new_key] = record.id
        return new_key


def replace_json(org: Org, id_or_key: str, data: dict[str, Any]) -> dict[str, Any]:
    """Serve `data` as the issue's JSON from now on, as given (a malformed payload for a
    test: no key, a garbled timestamp, a NUL byte); returns the JSON served before.
    The record stays findable by its id, key and queue."""
    with org.lock:
        record = _record(org, id_or_key)
        previous = record.data
        record.data = dict(data)
        return previous


def replace_entry(org: Org, id_or_key: str, position: int, entry: dict[str, Any]) -> dict[str, Any]:
    """Serve `entry` instead of the changelog entry at `position`, as given (it may lack an
    id or hold a garbled timestamp); its place in the cursor order is unchanged. Returns
    the entry served before."""
    with org.lock:
        record = _record(org, id_or_key)
        previous = record.changelog[position]
        record.changelog[position] = dict(entry)
        return previous
