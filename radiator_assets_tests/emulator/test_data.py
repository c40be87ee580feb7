"""The generated organisation: deterministic, internally consistent, and realistic
enough to exercise every hard case of the metric spec."""

import itertools
import json
from datetime import timedelta

import pytest

from radiator_assets.emulator import (
    STATUS_BLOCKS,
    expected_stays,
    generate_org,
    stays_from_changelog,
)
from radiator_assets.emulator.catalog import ALL_STATUSES
from radiator_assets.tracker.query import parse_tracker_datetime


def _status_changes(record):
    return [
        (parse_tracker_datetime(e["updatedAt"]), f)
        for e in record.changelog
        for f in e.get("fields", ())
        if f["field"]["id"] == "status"
    ]


def _snapshot(org):
    return json.dumps(
        [(r.data, r.links, r.changelog) for r in org.live()], sort_keys=True, ensure_ascii=False
    )


def test_same_seed_gives_the_same_org():
    assert _snapshot(generate_org(seed=5, n_issues=40)) == _snapshot(generate_org(5, 40))


def test_another_seed_gives_another_org():
    assert _snapshot(generate_org(seed=5, n_issues=40)) != _snapshot(generate_org(6, 40))


def test_full_org_of_10000_issues_has_about_200000_entries():
    # Its speed is measured by benchmarks/bench_emulator.py, never asserted in a test.
    org = generate_org(seed=7, n_issues=10_000)
    assert len(org.records) == 10_000
    assert 150_000 <= org.changelog_entry_count <= 260_000


def test_issue_status_equals_its_last_status_change(medium_org):
    for record in medium_org.live():
        changes = _status_changes(record)
        if changes:
            assert record.data["status"] == changes[-1][1]["to"], record.key


def test_issue_updated_at_equals_its_last_changelog_entry(medium_org):
    for record in medium_org.live():
        last = parse_tracker_datetime(record.changelog[-1]["updatedAt"])
        assert parse_tracker_datetime(record.data["updatedAt"]) == last, record.key


def test_each_status_change_starts_from_the_previous_status(medium_org):
    for record in medium_org.live():
        changes = _status_changes(record)
        for (_, before), (_, after) in itertools.pairwise(changes):
            assert after["from"] == before["to"], record.key


def test_changelog_ids_are_24_hex_and_increase_in_time_order(medium_org):
    for record in medium_org.live():
        ids = [e["id"] for e in record.changelog]
        times = [parse_tracker_datetime(e["updatedAt"]) for e in record.changelog]
        assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
        assert ids == sorted(set(ids))
        assert times == sorted(times)


def test_nothing_happens_after_the_emulator_clock(medium_org):
    assert max(r.updated_at for r in medium_org.live()) < medium_org.now


def test_ground_truth_agrees_with_the_served_changelog(medium_org):
    for record in medium_org.live():
        served = stays_from_changelog(record.data, record.changelog)
        assert served == expected_stays(medium_org, record.id), record.key


def test_ground_truth_of_an_issue_without_status_changes_is_one_open_stay():
    org = generate_org(seed=1, n_issues=5)
    issue = org.records[next(iter(org.records))]
    from radiator_assets.emulator import mutations

    fresh = mutations.create_issue(org, "CPO")
    (stay,) = expected_stays(org, fresh["key"])
    assert stay.status_key == "open"
    assert stay.end is None
    assert stay.start == parse_tracker_datetime(fresh["createdAt"])
    assert issue  # the rest of the org is untouched


def test_first_stay_starts_at_created_in_the_first_changes_from_status(medium_org):
    record = next(r for r in medium_org.live() if _status_changes(r))
    first = expected_stays(medium_org, record.key)[0]
    assert first.start == parse_tracker_datetime(record.data["createdAt"])
    assert first.status_key == _status_changes(record)[0][1]["from"]["key"]


def test_every_status_has_id_key_display_and_a_block(medium_org):
    for record in medium_org.live():
        assert set(record.data["status"]) == {"id", "key", "display"}
    assert set(STATUS_BLOCKS) == {s["display"] for s in ALL_STATUSES.values()}


# --- the hard cases the metrics must survive ------------------------------------------
def _walk_keys(record):
    return [s["key"] for s, _ in record.walk]


def test_product_issues_walk_the_spec_workflow(medium_org):
    reached = {k for r in medium_org.live() if r.queue == "CPO" for k in _walk_keys(r)}
    assert reached >= {
        "open",
        "discoveryBacklog",
        "discoveryInProgress",
        "readyForDevelopment",
        "mpInProgress",
        "mpExternalTest",
        "readyForRelease",
        "closed",
        "closedWithIt",
        "cancelled",
        "paused",
    }


def test_some_issues_are_paused_and_resumed(medium_org):
    assert any(
        a == "paused" and b != "paused"
        for r in medium_org.live()
        for a, b in zip(_walk_keys(r), _walk_keys(r)[1:], strict=False)
    )


def test_some_stays_are_accidental_clicks_under_five_minutes(medium_org):
    short = [
        b - a
        for r in medium_org.live()
        for (_, a), (_, b) in zip(r.walk, r.walk[1:], strict=False)
        if b - a < timedelta(minutes=5)
    ]
    assert len(short) >= 20


def test_some_finished_tasks_are_reopened(medium_org):
    done = {"closed", "closedWithIt"}
    assert any(
        any(k in done for k in _walk_keys(r)[:-1])
        and "mpInProgress"
        in _walk_keys(r)[next(i for i, k in enumerate(_walk_keys(r)) if k in done) :]
        for r in medium_org.live()
        if r.queue == "CPO"
    )


def test_some_implementation_tasks_return_to_testing(medium_org):
    assert any(_walk_keys(r).count("testing") >= 2 for r in medium_org.live())


def test_some_tasks_are_unfinished(medium_org):
    finals = {r.status["key"] for r in medium_org.live() if r.queue == "CPO"}
    assert finals - {"closed", "closedWithIt", "cancelled"}


def test_moved_issues_keep_their_old_key_as_alias_and_log_the_move(medium_org):
    moved = [r for r in medium_org.live() if r.data.get("aliases")]
    assert moved
    for record in moved:
        (entry,) = [e for e in record.changelog if e["type"] == "IssueMoved"]
        key_change = next(f for f in entry["fields"] if f["field"]["id"] == "key")
        assert key_change["from"] == record.data["aliases"][0]
        assert key_change["to"] == record.key
        assert medium_org.resolve(record.data["aliases"][0]) is record


def test_timestamps_use_both_utc_and_moscow_offsets(medium_org):
    stamps = [e["updatedAt"] for r in medium_org.live() for e in r.changelog]
    assert any(s.endswith("+0000") for s in stamps)
    assert any(s.endswith("+0300") for s in stamps)


def test_implementation_tasks_relate_to_product_tasks_in_both_directions(medium_org):
    directions = {
        link["direction"]
        for r in medium_org.live()
        if r.queue == "CPO"
        for link in r.links
        if link["type"]["id"] == "relates" and link["object"]["key"].startswith("FULLSTACK-")
    }
    assert directions == {"inward", "outward"}


def test_sub_tasks_have_a_parent_and_nest(medium_org):
    by_key = {r.key: r for r in medium_org.live()}
    children = [r for r in medium_org.live() if r.data.get("parent")]
    assert children
    assert any(by_key[c.data["parent"]["key"]].data.get("parent") for c in children)


def test_some_tasks_belong_to_an_epic(medium_org):
    assert any(r.data.get("epic") for r in medium_org.live())


def test_team_fields_are_queue_local_custom_fields(medium_org):
    cpo = next(r for r in medium_org.live() if r.queue == "CPO")
    assert "6361307d94f52e42ae308615--prodteam" in cpo.data
    values = {r.data.get("6361307d94f52e42ae308615--team") for r in medium_org.live()}
    assert None in values
    assert "Team Alpha" in values


def test_non_status_updates_have_string_null_and_array_values(medium_org):
    kinds = set()
    for record in medium_org.live():
        for entry in record.changelog:
            if entry["type"] != "IssueUpdated":
                continue
            for change in entry["fields"]:
                for value in (change["from"], change["to"]):
                    kinds.add(type(value).__name__)
    assert {"str", "NoneType", "list", "dict"} <= kinds


def test_some_status_changes_arrive_as_issue_updated(medium_org):
    assert any(
        e["type"] == "IssueUpdated" and e["fields"][0]["field"]["id"] == "status"
        for r in medium_org.live()
        for e in r.changelog
    )


def test_workflow_entries_carry_status_start_time(medium_org):
    record = next(r for r in medium_org.live() if len(r.changelog) > 3)
    workflow = [e for e in record.changelog if e["type"] == "IssueWorkflow"]
    assert workflow
    assert all(any(f["field"]["id"] == "statusStartTime" for f in e["fields"]) for e in workflow)


def test_authors_are_neutral_names(medium_org):
    authors = {r.data["createdBy"]["display"] for r in medium_org.live()}
    assert all(a.startswith("Author ") for a in authors)


# --- mutations ----------------------------------------------------------------------
def test_add_changes_appends_entries_and_bumps_updated_at_and_status(tracker_emulator):
    org = tracker_emulator.org
    record = next(r for r in org.live() if r.status["key"] in ("open", "new"))
    before = (len(record.changelog), record.updated_at, record.status["key"])
    tracker_emulator.advance_clock(timedelta(days=1))
    tracker_emulator.add_changes([record.id], kind="status")
    assert len(record.changelog) == before[0] + 1
    assert record.updated_at > before[1]
    assert record.status["key"] != before[2]
    assert record.data["status"] == record.changelog[-1]["fields"][0]["to"]
    assert parse_tracker_datetime(record.data["updatedAt"]) == record.updated_at


def test_add_changes_by_count_changes_that_many_issues(tracker_emulator):
    changed = tracker_emulator.add_changes(4)
    assert len(set(changed)) == 4


def test_mutations_keep_ground_truth_in_step(tracker_emulator):
    record = next(tracker_emulator.org.live())
    tracker_emulator.add_changes([record.id], per_issue=3)
    served = stays_from_changelog(record.data, record.changelog)
    assert served == expected_stays(tracker_emulator.org, record.id)


def test_created_issue_is_found_by_search_and_count(tracker_emulator, tracker_client):
    before = tracker_client.count("Queue: CPO")
    issue = tracker_emulator.create_issue("CPO", summary="Brand new")
    assert tracker_client.count("Queue: CPO") == before + 1
    assert tracker_client.get_issue(issue["key"])["summary"] == "Brand new"


def test_deleted_issue_vanishes_from_search(tracker_emulator, tracker_client):
    record = next(tracker_emulator.org.live())
    tracker_emulator.delete_issue(record.key)
    ids = {i["id"] for i in tracker_client.search("Queue: CPO, FULLSTACK")}
    assert record.id not in ids
    assert len(ids) == len(tracker_emulator.org)


def test_set_status_to_the_current_status_is_refused(tracker_emulator):
    record = next(tracker_emulator.org.live())
    with pytest.raises(ValueError, match="already"):
        tracker_emulator.set_status(record.id, record.status["key"])
