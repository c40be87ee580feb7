"""`TrackerClient.changelog` and the parallel `changelogs` against the emulator."""

import pytest

from radiator_assets.emulator import Fault
from radiator_assets.tracker import IssueGone, TrackerConfigError, TrackerUnavailable


def _long_issue(emulator, updates: int) -> str:
    """An issue with exactly `updates` + 1 changelog entries (created + edits)."""
    issue = emulator.create_issue("CPO")
    emulator.add_changes([issue["id"]], kind="update", per_issue=updates)
    return issue["id"]


def test_changelog_of_more_than_1000_entries_is_complete(tracker_emulator, tracker_client):
    issue_id = _long_issue(tracker_emulator, 1_200)
    entries = list(tracker_client.changelog(issue_id))
    record = tracker_emulator.org.records[issue_id]
    assert [e["id"] for e in entries] == record.changelog_ids
    assert len(entries) == 1_201
    # 24 full pages of 50 and a last page of 1 entry without a next link.
    assert tracker_emulator.request_count("/changelog$") == 25


def test_changelog_ending_on_a_full_page_stops_at_the_empty_page(tracker_emulator, tracker_client):
    issue_id = _long_issue(tracker_emulator, 99)
    assert len(list(tracker_client.changelog(issue_id))) == 100
    assert tracker_emulator.request_count("/changelog$") == 3


def test_changelog_follows_the_next_link_with_the_cursor_as_last_parameter(
    tracker_emulator, tracker_client
):
    issue_id = _long_issue(tracker_emulator, 60)
    entries = list(tracker_client.changelog(issue_id))
    second = [r for r in tracker_emulator.requests if r.path.endswith("/changelog")][1]
    assert second.query.endswith(f"&id={entries[49]['id']}")


def test_changelog_after_id_returns_only_newer_entries(tracker_emulator, tracker_client):
    issue_id = _long_issue(tracker_emulator, 120)
    ids = tracker_emulator.org.records[issue_id].changelog_ids
    newer = [e["id"] for e in tracker_client.changelog(issue_id, after_id=ids[99])]
    assert newer == ids[100:]


def test_changelog_after_the_last_id_is_empty(tracker_emulator, tracker_client):
    record = next(tracker_emulator.org.live())
    assert list(tracker_client.changelog(record.id, after_id=record.changelog_ids[-1])) == []


def test_changelog_follows_relative_next_links(tracker_emulator_factory, tracker_client_factory):
    emulator = tracker_emulator_factory(relative_links=True)
    client = tracker_client_factory(emulator)
    issue_id = _long_issue(emulator, 120)
    assert len(list(client.changelog(issue_id))) == 121


def test_changelog_type_filter_is_sent_and_applied(tracker_emulator, tracker_client):
    record = max(tracker_emulator.org.live(), key=lambda r: len(r.changelog))
    entries = list(tracker_client.changelog(record.id, types=["IssueWorkflow"]))
    expected = [e["id"] for e in record.changelog if e["type"] == "IssueWorkflow"]
    assert [e["id"] for e in entries] == expected
    first = next(r for r in tracker_emulator.requests if r.path.endswith("/changelog"))
    assert first.params["type"] == ["IssueWorkflow"]


def test_changelog_field_filter_keeps_status_changes_only(tracker_emulator, tracker_client):
    record = max(tracker_emulator.org.live(), key=lambda r: len(r.changelog))
    entries = list(tracker_client.changelog(record.id, field="status"))
    assert entries
    assert all(any(f["field"]["id"] == "status" for f in e["fields"]) for e in entries)


def test_changelog_404_raises_issue_gone_not_an_empty_list(tracker_emulator, tracker_client):
    record = next(tracker_emulator.org.live())
    tracker_emulator.add_fault(Fault.gone(record.id))
    with pytest.raises(IssueGone) as caught:
        list(tracker_client.changelog(record.id))
    assert caught.value.issue_id == record.id


def test_changelog_of_a_deleted_issue_raises_issue_gone(tracker_emulator, tracker_client):
    record = next(tracker_emulator.org.live())
    tracker_emulator.delete_issue(record.key)
    with pytest.raises(IssueGone):
        list(tracker_client.changelog(record.key))


def test_changelog_404_on_a_later_page_raises_issue_gone(tracker_emulator, tracker_client):
    issue_id = _long_issue(tracker_emulator, 120)
    tracker_emulator.add_fault(Fault.http(404, r"/changelog\?.*id=", None))
    stream = tracker_client.changelog(issue_id)
    first_page = [next(stream) for _ in range(50)]
    assert len(first_page) == 50
    with pytest.raises(IssueGone):
        next(stream)


def test_changelogs_returns_one_complete_result_per_issue(tracker_emulator, tracker_client):
    records = list(tracker_emulator.org.live())
    results = {r.issue_id: r for r in tracker_client.changelogs((x.id, None) for x in records)}
    assert set(results) == {x.id for x in records}
    for record in records:
        result = results[record.id]
        assert result.ok
        assert [e["id"] for e in result.entries] == record.changelog_ids
        assert result.last_id == record.changelog_ids[-1]


def test_changelogs_passes_each_cursor(tracker_emulator, tracker_client):
    record = max(tracker_emulator.org.live(), key=lambda r: len(r.changelog))
    cursor = record.changelog_ids[2]
    (result,) = tracker_client.changelogs([(record.id, cursor)])
    assert [e["id"] for e in result.entries] == record.changelog_ids[3:]


def test_changelogs_reports_a_gone_issue_and_completes_the_others(tracker_emulator, tracker_client):
    records = list(tracker_emulator.org.live())[:10]
    tracker_emulator.add_fault(Fault.gone(records[3].id))
    results = {r.issue_id: r for r in tracker_client.changelogs((x.id, None) for x in records)}
    assert results[records[3].id].gone
    assert results[records[3].id].entries == []
    assert all(results[x.id].ok for x in records if x is not records[3])


def test_changelogs_reports_a_per_issue_error_instead_of_no_entries(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(tracker_emulator, max_retry_seconds=0.05)
    records = list(tracker_emulator.org.live())[:10]
    tracker_emulator.add_fault(Fault.http(500, f"/issues/{records[5].id}/changelog", None))
    results = {r.issue_id: r for r in client.changelogs((x.id, None) for x in records)}
    failed = results[records[5].id]
    assert not failed.ok
    assert not failed.gone
    assert isinstance(failed.error, TrackerUnavailable)
    assert records[5].id in str(failed.error)
    assert sum(r.ok for r in results.values()) == 9


def test_changelogs_keeps_in_flight_work_bounded(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, workers=2, max_in_flight=4)
    records = list(tracker_emulator.org.live())
    pulled = 0

    def items():
        nonlocal pulled
        for record in records:
            pulled += 1
            yield record.id, None

    consumed = widest = 0
    for _ in client.changelogs(items()):
        consumed += 1
        widest = max(widest, pulled - consumed)
    assert consumed == len(records)
    assert widest <= 4


def test_changelogs_stops_early_without_fetching_everything(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(tracker_emulator, workers=2, max_in_flight=2)
    records = list(tracker_emulator.org.live())
    stream = client.changelogs((x.id, None) for x in records)
    next(stream)
    stream.close()
    assert tracker_emulator.request_count("/changelog$") < len(records)


def test_changelogs_raises_a_config_error_instead_of_reporting_it_per_issue(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(tracker_emulator, token="wrong-token")
    records = list(tracker_emulator.org.live())
    with pytest.raises(TrackerConfigError):
        list(client.changelogs((x.id, None) for x in records))


def test_changelogs_gives_up_when_tracker_is_down_for_many_issues_in_a_row(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(
        tracker_emulator, max_retry_seconds=0, abort_after_unavailable=5, workers=2
    )
    tracker_emulator.add_fault(Fault.http(503, "/changelog", None))
    records = list(tracker_emulator.org.live())
    seen = []
    with pytest.raises(TrackerUnavailable, match="more issues in a row"):
        for result in client.changelogs((x.id, None) for x in records):
            seen.append(result)
    assert len(seen) == 5
    assert tracker_emulator.request_count("/changelog$") < len(records)
