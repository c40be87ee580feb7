"""One bad record is normal in real data: every good record is stored, the bad one waits in the
quarantine with its reason, and a later plain sync recovers it once Tracker serves it right.

Each case corrupts one issue of the emulated organisation before a first sync, then
restores it; the tables must end exactly as one clean sync of the restored
organisation leaves them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from radiator_assets.emulator import Fault, TrackerEmulator
from radiator_assets.emulator.model import IssueRecord
from radiator_assets.runner import run_sync
from radiator_assets_tests.assets.conftest import (
    QUERY,
    count,
    history_start,
    reference_snapshot,
    run_full_sync,
    table_snapshot,
)

Corrupt = Callable[[TrackerEmulator, IssueRecord], None]


@dataclass(frozen=True)
class Case:
    corrupt: Corrupt
    quarantined: str | None  # the quarantine kind the record lands in, or None: stored
    reason: str = ""  # part of the quarantine reason
    ref: str = "id"  # the issue's handle that names the quarantined record


def _issue_json(**changes: Any) -> Corrupt:
    def corrupt(emulator: TrackerEmulator, record: IssueRecord) -> None:
        data = {**record.data, **changes}
        emulator.replace_json(record.id, {k: v for k, v in data.items() if v is not _DROP})

    return corrupt


def _entry(position: int, **changes: Any) -> Corrupt:
    def corrupt(emulator: TrackerEmulator, record: IssueRecord) -> None:
        entry = {**record.changelog[position], **changes}
        emulator.replace_entry(
            record.id, position, {k: v for k, v in entry.items() if v is not _DROP}
        )

    return corrupt


def _changelog_fault(make: Callable[[str], Fault]) -> Corrupt:
    def corrupt(emulator: TrackerEmulator, record: IssueRecord) -> None:
        emulator.add_fault(make(rf"/issues/{record.id}/changelog"))

    return corrupt


_DROP = object()

CASES = {
    "nul_in_summary": Case(_issue_json(summary="Fix\x00 checkout"), None),
    "nul_in_author": Case(_issue_json(createdBy={"id": "1", "display": "Ann\x00a"}), None),
    "null_fields": Case(
        _issue_json(status=None, createdBy=None, queue=None, type=None, summary=None), None
    ),
    "huge_custom_field": Case(_issue_json(team="T" * 1000), None),
    "missing_key": Case(_issue_json(key=_DROP), "issue", "has no id or key"),
    "bad_updated_at": Case(_issue_json(updatedAt="not-a-date"), "issue", "updatedAt"),
    "key_too_long": Case(_issue_json(key="CPO-" + "9" * 80), "issue", "at most 64 fit"),
    "non_finite_number": Case(_issue_json(storyPoints=float("inf")), None),
    "nul_in_key_and_bad_date": Case(
        _issue_json(key="CPO-5\x00", updatedAt="not-a-date"), "issue", "updatedAt"
    ),
    "id_is_an_object": Case(_issue_json(id={"a": 1}), "issue", "id is dict", ref="key"),
    "entry_fields_not_a_list": Case(_entry(1, fields=5), "changelog", "fields is int"),
    "entry_non_finite_value": Case(
        _entry(1, fields=[{"field": {"id": "storyPoints"}, "from": None, "to": float("nan")}]),
        None,
    ),
    "entry_bad_timestamp": Case(_entry(1, updatedAt="not-a-date"), "changelog", "updatedAt"),
    "entry_without_id": Case(_entry(1, id=_DROP), "changelog", "has no id"),
    "entry_nul": Case(_entry(1, updatedBy={"id": "2", "display": "B\x00b"}), None),
    "changelog_html": Case(
        _changelog_fault(lambda p: Fault.replace_body("<html>oops</html>", p, None)),
        "changelog",
        "MalformedResponse",
    ),
    "changelog_500": Case(
        _changelog_fault(lambda p: Fault.http(500, p, None)), "changelog", "HTTP 500"
    ),
}


def _victim(emulator: TrackerEmulator) -> IssueRecord:
    return next(r for r in emulator.org.live() if r.queue == "CPO" and len(r.changelog) >= 3)


def _open_quarantine(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [
            (r.kind, r.ref, r.reason)
            for r in conn.execute(
                sa.text(
                    "SELECT kind, ref, reason FROM tracker_quarantine WHERE resolved_at IS NULL"
                )
            )
        ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_bad_record_never_stops_the_others_and_is_recovered_later(
    name: str,
    tracker_env: TrackerEmulator,
    engine: sa.Engine,
    database_factory: Callable[[], URL],
) -> None:
    case = CASES[name]
    record = _victim(tracker_env)
    served, entries = dict(record.data), list(record.changelog)
    case.corrupt(tracker_env, record)
    live = len(list(tracker_env.org.live()))

    report = run_full_sync(engine)  # a first sync, on a fresh database: it must not raise

    stored_issues = live - (1 if case.quarantined == "issue" else 0)
    assert count(engine, "SELECT count(*) FROM tracker_tasks") == stored_issues
    assert report.history.tasks_rebuilt >= stored_issues - 1
    quarantined = _open_quarantine(engine)
    if case.quarantined is None:
        assert quarantined == []
    else:
        ((kind, ref, reason),) = quarantined
        assert (kind, ref) == (case.quarantined, record.key if case.ref == "key" else record.id)
        assert case.reason in reason

    tracker_env.replace_json(record.id, served)
    for position, entry in enumerate(entries):
        tracker_env.replace_entry(record.id, position, entry)
    tracker_env.clear_faults()
    if case.quarantined is None:
        case.corrupt(tracker_env, record)  # stored as cleaned: the reference sees it too
    run_full_sync(engine)

    assert _open_quarantine(engine) == []
    assert table_snapshot(engine) == reference_snapshot(database_factory)


def test_text_postgresql_cannot_hold_is_cleaned_not_refused(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    record = _victim(tracker_env)
    CASES["nul_in_summary"].corrupt(tracker_env, record)
    CASES["huge_custom_field"].corrupt(tracker_env, _victim_other(tracker_env, record))

    run_full_sync(engine)

    with engine.connect() as conn:
        summary, raw = conn.execute(
            sa.text(
                "SELECT summary, full_data->>'summary' FROM tracker_tasks WHERE tracker_id = :t"
            ),
            {"t": record.id},
        ).one()
        longest_team = conn.scalar(sa.text("SELECT max(length(team)) FROM tracker_tasks"))
    assert summary == raw == "Fix checkout"
    assert longest_team == 255


def test_a_null_among_the_issues_of_a_page_is_one_bad_record(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    # The page `[null, {...}, ...]`: the null is quarantined, the page's issues are stored.
    page = tracker_env.api.search("v2", {"perPage": ["1000"]}, {"query": QUERY}, "")
    body = b"[null," + page.body[1:]
    tracker_env.add_fault(Fault.replace_body(body, "scrollType=", 1))

    run_full_sync(engine)

    quarantined = _open_quarantine(engine)
    assert [(kind, reason) for kind, _, reason in quarantined] == [
        ("issue", "MalformedPayload: an issue must be a JSON object, got NoneType")
    ]
    assert count(engine, "SELECT count(*) FROM tracker_tasks") == len(list(tracker_env.org.live()))


def _victim_other(emulator: TrackerEmulator, first: IssueRecord) -> IssueRecord:
    return next(r for r in emulator.org.live() if r.queue == "CPO" and r.id != first.id)


def test_a_quarantined_issue_shows_in_dagster_and_does_not_fail_the_run(
    tracker_env: TrackerEmulator, engine: sa.Engine
) -> None:
    record = _victim(tracker_env)
    CASES["bad_updated_at"].corrupt(tracker_env, record)

    with dg.instance_for_test() as instance:
        outcome = run_sync(
            selection=["group:tracker"], since=history_start(tracker_env), instance=instance
        )

    assert outcome.success
    assert outcome.metadata["tracker_issues"]["issues_quarantined"] == 1
    assert outcome.checks["issues_quarantine_is_empty"] is False
    assert outcome.warnings == {"issues_quarantine_is_empty"}  # a warning, not a failure
    assert outcome.checks["changelog_quarantine_is_empty"] is True
    assert outcome.checks["history_is_continuous"] is True
