"""Pure mapping of Tracker JSON (issues, changelog entries) to warehouse rows.

Tracker may omit or null any field; these functions accept that and raise
`MalformedPayload` (naming the issue or entry and the field) only where a row
cannot exist without the value: ids and timestamps. Text PostgreSQL cannot
hold is cleaned rather than refused (`clean_json`: NUL characters dropped,
unpaired surrogates replaced), and display texts longer than their column
are cut to fit (the full text stays in the stored JSON); an id or key too
long for its column is refused, since a cut one would point elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from pydantic_core import PydanticSerializationError, to_json

from radiator_assets.metrics.config import CustomFields
from radiator_assets.storage.bulk import SerialisedJson
from radiator_assets.storage.models import TrackerChangelogEntry, TrackerTask
from radiator_assets.tracker.errors import InvalidTrackerDatetime
from radiator_assets.tracker.query import parse_tracker_datetime

TASKS = TrackerTask.__table__
CHANGELOG = TrackerChangelogEntry.__table__
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
HASH_PREFIX = "sha1:"  # the ref of a record that has neither id nor key
_NOT_FINITE = re.compile(r"\b(?:NaN|-?Infinity)\b")


class MalformedPayload(ValueError):
    """A Tracker object lacks what a row needs; the message names it and the field."""


def _clean_text(text: str) -> str:
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {_clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no infinity or NaN: "inf", "-inf", "nan"
    return value


def clean_json(value: Any) -> Any:
    """`value` without what PostgreSQL text and JSONB refuse: NUL characters are dropped,
    unpaired UTF-16 surrogates become U+FFFD, numbers JSON cannot hold (`1e400` reads as
    infinity) become strings. Returns `value` itself when it is clean (one serialisation
    to find out), so clean payloads cost no copy."""
    return clean_json_text(value)[0]


def clean_json_text(value: Any) -> tuple[Any, str]:
    """`clean_json(value)` and its JSON text (the serialisation that checked it, or the
    cleaned value's), for a writer that would otherwise serialise it once more.

    Decisions (this runs for every changelog entry, so it is most of a sync's parsing
    CPU): the checking serialisation is pydantic-core's `to_json` (already a dependency,
    about 5x cheaper than `json.dumps`), which escapes every control character, NUL
    included, writes non-finite numbers as `NaN`/`Infinity` constants and refuses a
    lone surrogate (UTF-8 cannot hold one). So a clean value is one whose text holds no
    `\\u0000` escape and no non-finite constant, and serialised at all; the word-boundary
    regex for non-finite numbers runs only on texts that hold "NaN" or "Infinity". A
    value that is not clean takes the plain `json` path, as before."""
    try:
        data = to_json(value, inf_nan_mode="constants", fallback=str)
    except PydanticSerializationError:  # a lone surrogate
        return _cleaned_text(value)
    text = data.decode("utf-8")
    if b"\\u0000" in data or _not_finite(text):
        return _cleaned_text(value)
    return value, text


def _cleaned_text(value: Any) -> tuple[Any, str]:
    cleaned = _clean(value)
    return cleaned, json.dumps(cleaned, ensure_ascii=False, default=str)


def _not_finite(text: str) -> bool:
    return ("NaN" in text or "Infinity" in text) and _NOT_FINITE.search(text) is not None


def payload_ref(payload: Any) -> str:
    """A stable name for a record that has neither id nor key: a hash of its JSON."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return HASH_PREFIX + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


@cache  # a column's length never changes; looked up for every field of every entry
def _limit(table: sa.Table, column: str) -> int | None:
    return getattr(table.c[column].type, "length", None)


def _fit(table: sa.Table, column: str, value: str | None) -> str | None:
    """A display text cut to its column's length (the full text stays in the raw JSON)."""
    if value is None:
        return None
    limit = _limit(table, column)
    if limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def _identifier(table: sa.Table, column: str, value: Any, what: str) -> str | None:
    """An id or key as its column holds it; refused when too long (a cut one would point
    elsewhere)."""
    if value is None:
        return None
    text = str(value)
    limit = _limit(table, column)
    if limit is not None and len(text) > limit:
        raise MalformedPayload(f"{what}: {column} is {len(text)} characters, at most {limit} fit")
    return text


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


# A payload shape no rule foresaw (a list where a text belongs, ...) raises one of these
# inside the mapping: it is a bad record, not a crash of the sync.
_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, ValueError)


def _shape_error(what: str, exc: Exception) -> MalformedPayload:
    """The bad-record error for an unforeseen payload shape. Callers catch `_SHAPE_ERRORS`
    with a plain `try` (a `contextmanager` cost a microsecond per changelog entry)."""
    return MalformedPayload(f"{what}: unexpected shape ({type(exc).__name__}: {exc})")


def issue_row(issue: dict[str, Any], fields: CustomFields) -> dict[str, Any]:
    """The `tracker_tasks` columns for one issue as fetched (no surrogate id, no cursors);
    `fields` are the custom-field ids of the metrics configuration."""
    try:
        return _issue_row(issue, fields)
    except MalformedPayload:
        raise
    except _SHAPE_ERRORS as exc:
        raise _shape_error("an issue", exc) from exc


def _scalar_id(value: Any, what: str, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedPayload(f"{what}: {field} is {type(value).__name__}, not a string")
    return str(value)


def _issue_row(issue: dict[str, Any], fields: CustomFields) -> dict[str, Any]:
    if not isinstance(issue, dict):
        raise MalformedPayload(f"an issue must be a JSON object, got {type(issue).__name__}")
    issue, issue_text = clean_json_text(issue)
    tracker_id = issue.get("id")
    key = issue.get("key")
    if not tracker_id or not key:
        raise MalformedPayload(f"issue {key or tracker_id or '?'} has no id or key")
    what = f"issue {key}"
    tracker_id = _scalar_id(tracker_id, what, "id")
    key = _scalar_id(key, what, "key")
    status = issue.get("status") if isinstance(issue.get("status"), dict) else {}
    aliases = issue.get("aliases") or []
    links = issue.get("links") or []
    table = TASKS

    def fit(column: str, value: str | None) -> str | None:
        return _fit(table, column, value)

    return {
        "tracker_id": _identifier(table, "tracker_id", tracker_id, what),
        "key": _identifier(table, "key", key, what),
        "aliases": [str(a) for a in aliases] if isinstance(aliases, list) else [],
        "queue": fit("queue", _key_of(issue.get("queue")) or str(key).split("-")[0]),
        "type": fit("type", _key_of(issue.get("type"))),
        "summary": _text_or_none(issue.get("summary")),
        "description": _text_or_none(issue.get("description")),
        "status_key": fit("status_key", status.get("key")),
        "status": fit("status", _display(status) if status else None),
        "author": fit("author", _display(issue.get("createdBy"))),
        "assignee": fit("assignee", _display(issue.get("assignee"))),
        "team": fit("team", _display(custom_field(issue, fields.team))),
        "prodteam": fit("prodteam", _display(custom_field(issue, fields.product_team))),
        "business_client": fit(
            "business_client", _display(custom_field(issue, fields.business_client))
        ),
        "parent_key": _identifier(table, "parent_key", _key_of(issue.get("parent")), what),
        "epic_key": _identifier(table, "epic_key", _key_of(issue.get("epic")), what),
        "links": links if isinstance(links, list) else [],
        "full_data": SerialisedJson(issue, issue_text),
        "created_at": _timestamp(issue, "createdAt", what, required=True),
        "task_updated_at": _timestamp(issue, "updatedAt", what, required=True),
    }


def _text_or_none(value: Any) -> str | None:
    """Free text (summary, description); a non-string value is kept as its JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _status_item(entry: dict[str, Any]) -> dict[str, Any] | None:
    fields = entry.get("fields") or []
    if not isinstance(fields, list):
        # Whether it changed the status cannot be told: refuse rather than guess "no".
        raise MalformedPayload(
            f"changelog entry {entry.get('id')}: fields is {type(fields).__name__}, not a list"
        )
    for item in fields:
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
    try:
        return _changelog_row(entry, task_id)
    except MalformedPayload:
        raise
    except _SHAPE_ERRORS as exc:
        raise _shape_error("a changelog entry", exc) from exc


def _changelog_row(entry: dict[str, Any], task_id: int) -> dict[str, Any]:
    if not isinstance(entry, dict) or not entry.get("id"):
        raise MalformedPayload("a changelog entry has no id")
    entry, entry_text = clean_json_text(entry)
    table = CHANGELOG
    what = f"changelog entry {entry['id']}"
    entry_id = _scalar_id(entry["id"], what, "id")
    item = _status_item(entry)
    from_key, from_display = _status_parts(item.get("from")) if item else (None, None)
    to_key, to_display = _status_parts(item.get("to")) if item else (None, None)
    return {
        "id": _identifier(table, "id", entry_id, what),
        "task_id": task_id,
        "updated_at": _timestamp(entry, "updatedAt", what, required=True),
        "updated_by": _fit(table, "updated_by", _display(entry.get("updatedBy"))),
        "type": _fit(table, "type", _text_or_none(entry.get("type"))),
        "status_from_key": _fit(table, "status_from_key", from_key),
        "status_from": _fit(table, "status_from", from_display),
        "status_to_key": _fit(table, "status_to_key", to_key),
        "status_to": _fit(table, "status_to", to_display),
        "raw": SerialisedJson(entry, entry_text),
    }
