"""Builders of changelog entries in Tracker's shape, shared by the generator and mutations.

One place decides the entry shape, so generated history and history added
later by a test (incremental sync) can never drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from radiator_assets.emulator.catalog import CANCELLED, field_ref
from radiator_assets.emulator.model import fmt_ts

RESOLUTION_FIXED = {"id": "1", "key": "fixed", "display": "Решён"}
RESOLUTION_WONT_FIX = {"id": "2", "key": "wontFix", "display": "Не будет исправлено"}

Entry = dict[str, Any]


def _base(
    entry_id: str,
    issue: dict[str, str],
    when: datetime,
    moscow: bool,
    author: dict[str, str],
    kind: str,
    transport: str,
) -> Entry:
    return {
        "id": entry_id,
        "issue": issue,
        "updatedAt": fmt_ts(when, moscow),
        "updatedBy": author,
        "type": kind,
        "transport": transport,
    }


def item(field_id: str, old: Any, new: Any) -> dict[str, Any]:
    return {"field": field_ref(field_id), "from": old, "to": new}


def created_entry(
    entry_id: str, issue: dict[str, str], when: datetime, moscow: bool, author: dict[str, str]
) -> Entry:
    """IssueCreated carries no `fields`: the first stay's status comes from the
    first status change's `from` (see the metric spec)."""
    return _base(entry_id, issue, when, moscow, author, "IssueCreated", "front")


def status_entry(
    entry_id: str,
    issue: dict[str, str],
    when: datetime,
    moscow: bool,
    author: dict[str, str],
    old: dict[str, str],
    new: dict[str, str],
    previous_start: datetime,
    *,
    workflow: bool = True,
    resolved: bool = False,
    was_resolved: bool = False,
) -> Entry:
    """A status change: IssueWorkflow with statusStartTime (and resolution when it
    changes), or, rarely, a bare status item inside an IssueUpdated (API edits)."""
    kind = "IssueWorkflow" if workflow else "IssueUpdated"
    entry = _base(entry_id, issue, when, moscow, author, kind, "front" if workflow else "api")
    fields = [item("status", old, new)]
    if workflow:
        fields.append(item("statusStartTime", fmt_ts(previous_start, moscow), fmt_ts(when, moscow)))
        if resolved and not was_resolved:
            resolution = RESOLUTION_WONT_FIX if new is CANCELLED else RESOLUTION_FIXED
            fields.append(item("resolution", None, resolution))
        elif was_resolved and not resolved:
            fields.append(item("resolution", RESOLUTION_FIXED, None))
    entry["fields"] = fields
    return entry


def update_entry(
    entry_id: str,
    issue: dict[str, str],
    when: datetime,
    moscow: bool,
    author: dict[str, str],
    changes: list[tuple[str, Any, Any]],
) -> Entry:
    """A non-status IssueUpdated: `from`/`to` may be objects, arrays, strings or null."""
    entry = _base(entry_id, issue, when, moscow, author, "IssueUpdated", "front")
    entry["fields"] = [item(fid, old, new) for fid, old, new in changes]
    return entry


def moved_entry(
    entry_id: str,
    issue: dict[str, str],
    when: datetime,
    moscow: bool,
    author: dict[str, str],
    old_key: str,
    new_key: str,
    old_queue: dict[str, str],
    new_queue: dict[str, str],
) -> Entry:
    entry = _base(entry_id, issue, when, moscow, author, "IssueMoved", "front")
    entry["fields"] = [item("key", old_key, new_key), item("queue", old_queue, new_queue)]
    return entry
