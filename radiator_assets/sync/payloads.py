"""Pure mapping of Tracker JSON (issues, changelog entries) to warehouse rows.

Tracker may omit or null any field; these functions accept that and raise
`MalformedPayload` (naming the issue or entry and the field) only where a row
cannot exist without the value: ids and timestamps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from radiator_assets.metrics.config import CustomFields
from radiator_assets.tracker.errors import InvalidTrackerDatetime
from radiator_assets.tracker.query import parse_tracker_datetime


class MalformedPayload(ValueError):
    """A Tracker object lacks what a row needs; the message names it and the field."""


def _display(value: Any) -> str | None:
    """A person, status, type or custom value as the text people know it by."""
    if value is None:
        return None
    if isinstance(value, dict):
        for attr in ("display", "name", "key", "id"):
            if value.get(attr) not in (None, ""):
                return str(value[attr])
        return None
    if isinstance(value, list):
        parts = [p for p in (_display(v) for v in value) if p]
        return ", ".join(parts) or None
    return str(value)


def _key_of(value: Any) -> str | None:
    if isinstance(value, dict):
        key = value.get("key") or value.get("id")
        return str(key) if key is not None else None
    return str(value) if value is not None else None


def custom_field(issue: dict[str, Any], field_id: str) -> Any:
    """The value of a custom field given by its id, global or queue-local (`<hex>--id`)."""
    if field_id in issue:
        return issue[field_id]
    suffix = f"--{field_id}"
    for name, value in issue.items():
        if name.endswith(suffix):
            return value
    return None


def _timestamp(obj: dict[str, Any], field: str, what: str, *, required: bool) -> datetime | None:
    raw = obj.get(field)
    if raw is None:
        if required:
            raise MalformedPayload(f"{what} has no {field}")
        return None
    try:
        return parse_tracker_datetime(raw)
    except InvalidTrackerDatetime as exc:
        raise MalformedPayload(f"{what}: {field} {exc}") from exc


def issue_row(issue: dict[str, Any], fields: CustomFields) -> dict[str, Any]:
    """The `tracker_tasks` columns for one issue as fetched (no surrogate id, no cursors);
    `fields` are the custom-field ids of the metrics configuration."""
    if not isinstance(issue, dict):
        raise MalformedPayload(f"an issue must be a JSON object, got {type(issue).__name__}")
    tracker_id = issue.get("id")
    key = issue.get("key")
    if not tracker_id or not key:
        raise MalformedPayload(f"issue {key or tracker_id or '?'} has no id or key")
    what = f"issue {key}"
    status = issue.get("status") if isinstance(issue.get("status"), dict) else {}
    aliases = issue.get("aliases") or []
    links = issue.get("links") or []
    return {
        "tracker_id": str(tracker_id),
        "key": str(key),
        "aliases": [str(a) for a in aliases] if isinstance(aliases, list) else [],
        "queue": _key_of(issue.get("queue")) or str(key).split("-")[0],
        "type": _key_of(issue.get("type")),
        "summary": issue.get("summary"),
        "description": issue.get("description"),
        "status_key": status.get("key"),
        "status": _display(status) if status else None,
        "author": _display(issue.get("createdBy")),
        "assignee": _display(issue.get("assignee")),
        "team": _display(custom_field(issue, fields.team)),
        "prodteam": _display(custom_field(issue, fields.product_team)),
        "business_client": _display(custom_field(issue, fields.business_client)),
        "parent_key": _key_of(issue.get("parent")),
        "epic_key": _key_of(issue.get("epic")),
        "links": links if isinstance(links, list) else [],
        "full_data": issue,
        "created_at": _timestamp(issue, "createdAt", what, required=True),
        "task_updated_at": _timestamp(issue, "updatedAt", what, required=True),
    }


def _status_item(entry: dict[str, Any]) -> dict[str, Any] | None:
    for item in entry.get("fields") or []:
        field = item.get("field") if isinstance(item, dict) else None
        if isinstance(field, dict) and field.get("id") == "status":
            return item
    return None


def _status_parts(value: Any) -> tuple[str | None, str | None]:
    """(key, display) of a status as a changelog `from`/`to` gives it."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        key = value.get("key") or value.get("id")
        return (str(key) if key else None), _display(value)
    return str(value), str(value)


def changelog_row(entry: dict[str, Any], task_id: int) -> dict[str, Any]:
    """The `tracker_changelog` columns for one entry."""
    if not isinstance(entry, dict) or not entry.get("id"):
        raise MalformedPayload("a changelog entry has no id")
    what = f"changelog entry {entry['id']}"
    item = _status_item(entry)
    from_key, from_display = _status_parts(item.get("from")) if item else (None, None)
    to_key, to_display = _status_parts(item.get("to")) if item else (None, None)
    return {
        "id": str(entry["id"]),
        "task_id": task_id,
        "updated_at": _timestamp(entry, "updatedAt", what, required=True),
        "updated_by": _display(entry.get("updatedBy")),
        "type": entry.get("type"),
        "status_from_key": from_key,
        "status_from": from_display,
        "status_to_key": to_key,
        "status_to": to_display,
        "raw": entry,
    }
