"""Tracker JSON becomes rows; missing or odd fields give clear errors or nulls, never guesses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from radiator_assets.metrics.config import CustomFields
from radiator_assets.sync.payloads import (
    MalformedPayload,
    changelog_row,
    clean_json,
    clean_json_text,
    issue_row,
)

ISSUE = {
    "id": "5f0c1a2b3c4d5e6f7a8b9c0d",
    "key": "CPO-12",
    "aliases": ["OLD-3"],
    "summary": "Checkout redesign",
    "queue": {"key": "CPO"},
    "type": {"key": "task", "display": "Задача"},
    "status": {"id": "1", "key": "inDevelopment", "display": "МП / В работе"},
    "createdAt": "2025-01-01T09:00:00.000+0300",
    "updatedAt": "2025-01-05T10:00:00.000+0000",
    "createdBy": {"id": "11", "display": "Author 1"},
    "assignee": None,
    "6361307d94f52e42ae308615--team": "Team Alpha",
    "prodteam": {"display": "Product A"},
    "epic": {"key": "CPO-1"},
}


def test_an_issue_becomes_a_row_with_utc_timestamps() -> None:
    row = issue_row(ISSUE, CustomFields())
    assert row["tracker_id"] == "5f0c1a2b3c4d5e6f7a8b9c0d"
    assert row["created_at"] == datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
    assert row["task_updated_at"] == datetime(2025, 1, 5, 10, 0, tzinfo=UTC)
    assert (row["status_key"], row["status"]) == ("inDevelopment", "МП / В работе")
    assert (row["author"], row["assignee"]) == ("Author 1", None)
    assert row["epic_key"] == "CPO-1"
    assert row["aliases"] == ["OLD-3"]


def test_a_queue_local_custom_field_matches_its_short_id() -> None:
    row = issue_row(ISSUE, CustomFields())
    assert (row["team"], row["prodteam"]) == ("Team Alpha", "Product A")


def test_an_issue_without_updated_at_is_refused_by_name() -> None:
    broken = {k: v for k, v in ISSUE.items() if k != "updatedAt"}
    with pytest.raises(MalformedPayload, match="issue CPO-12 has no updatedAt"):
        issue_row(broken, CustomFields())


def test_an_issue_with_a_garbled_timestamp_is_refused_by_name() -> None:
    with pytest.raises(MalformedPayload, match="issue CPO-12: createdAt"):
        issue_row({**ISSUE, "createdAt": "yesterday"}, CustomFields())


def test_an_issue_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(MalformedPayload, match="JSON object"):
        issue_row(["CPO-1"], CustomFields())  # type: ignore[arg-type]


def test_nulls_everywhere_but_the_essentials_are_accepted() -> None:
    minimal = {
        "id": "a",
        "key": "CPO-1",
        "createdAt": "2025-01-01T00:00:00.000+0000",
        "updatedAt": "2025-01-01T00:00:00.000+0000",
        "status": None,
        "queue": None,
        "links": None,
        "aliases": None,
    }
    row = issue_row(minimal, CustomFields())
    assert (row["queue"], row["status"], row["links"], row["aliases"]) == ("CPO", None, [], [])


ENTRY = {
    "id": "6000000000000000000000a1",
    "issue": {"id": "x", "key": "CPO-12"},
    "updatedAt": "2025-01-03T12:00:00.000+0300",
    "updatedBy": {"display": "Author 2"},
    "type": "IssueWorkflow",
    "fields": [
        {"field": {"id": "resolution"}, "from": None, "to": None},
        {
            "field": {"id": "status", "display": "Status"},
            "from": {"key": "open", "display": "Открыт"},
            "to": {"key": "inDevelopment", "display": "МП / В работе"},
        },
    ],
}


def test_a_status_change_entry_carries_both_statuses() -> None:
    row = changelog_row(ENTRY, task_id=7)
    assert row["updated_at"] == datetime(2025, 1, 3, 9, 0, tzinfo=UTC)
    assert (row["status_from_key"], row["status_from"]) == ("open", "Открыт")
    assert (row["status_to_key"], row["status_to"]) == ("inDevelopment", "МП / В работе")
    assert row["updated_by"] == "Author 2"


def test_an_entry_without_a_status_change_has_no_statuses() -> None:
    row = changelog_row(
        {**ENTRY, "fields": [{"field": {"id": "summary"}, "from": "a", "to": "b"}]}, 1
    )
    assert (row["status_from"], row["status_to"]) == (None, None)


def test_an_entry_without_id_is_refused() -> None:
    with pytest.raises(MalformedPayload, match="no id"):
        changelog_row({**ENTRY, "id": None}, 1)


def test_text_postgresql_refuses_is_cleaned_in_columns_and_raw_json() -> None:
    dirty = {**ISSUE, "summary": "a\x00b\ud800c", "createdBy": {"display": "N\x00ame"}}
    row = issue_row(dirty, CustomFields())
    assert row["summary"] == "ab\ufffdc"
    assert row["author"] == "Name"
    assert row["full_data"]["summary"] == "ab\ufffdc"


def test_a_clean_payload_is_not_copied() -> None:
    assert clean_json(ISSUE) is ISSUE


def test_display_texts_are_cut_to_their_column_and_ids_are_refused() -> None:
    row = issue_row({**ISSUE, "6361307d94f52e42ae308615--team": "T" * 300}, CustomFields())
    assert len(row["team"]) == 255 and row["team"].endswith("…")
    with pytest.raises(MalformedPayload, match="key is 70 characters, at most 64 fit"):
        issue_row({**ISSUE, "key": "K" * 70}, CustomFields())


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ({"a": "x\x00y"}, {"a": "xy"}),
        ({"a": ["lone \ud800 surrogate"]}, {"a": ["lone \ufffd surrogate"]}),
        ({"a": {"b": float("inf")}}, {"a": {"b": "inf"}}),
        ({"a": float("-inf"), "n": 1}, {"a": "-inf", "n": 1}),
        ({"a": float("nan")}, {"a": "nan"}),
    ],
)
def test_each_kind_of_unstorable_value_is_found_and_cleaned(dirty, clean) -> None:
    value, text = clean_json_text(dirty)
    assert value == clean
    assert json.loads(text) == value


def test_clean_text_round_trips_to_the_same_value() -> None:
    """The checking serialisation is the text COPY stores: it must read back as the
    entry, escapes and all; a text that merely says NaN or \\u0000 is no number and no
    NUL (it takes the slower cleaning path, and comes out unchanged)."""
    entry = {
        **ENTRY,
        "note": 'back\\slash "q" \t\n\r ünïcödé 😀 \x7f\x1f\u2028',
        "nums": [0, -1, 2.5, 1e20, 10**30, None, True],
    }
    value, text = clean_json_text(entry)
    assert value is entry
    assert json.loads(text) == entry
    wordy = {**entry, "note": "NaN, Infinity and a literal \\u0000"}
    value, text = clean_json_text(wordy)
    assert value == wordy
    assert json.loads(text) == wordy
