"""`TrackerClient.search`, `count` and `get_issue` against the emulator."""

import itertools
from datetime import timedelta

import pytest
import requests

from radiator_assets.emulator import Fault
from radiator_assets.tracker import IssueGone, MalformedResponse, TrackerHTTPError
from radiator_assets.tracker.errors import ListingIncomplete
from radiator_assets.tracker.query import incremental_query, parse_tracker_datetime

ALL = "Queue: CPO, FULLSTACK"


@pytest.fixture
def big_emulator(tracker_emulator_factory, big_light_org):
    return tracker_emulator_factory(big_light_org)


def test_light_generation_gives_10050_issues(big_light_org):
    # Its speed is measured by benchmarks/bench_emulator.py, never asserted in a test.
    assert len(big_light_org.records) == 10_050


def test_scroll_returns_every_issue_past_the_10000_cap_exactly_once(
    big_emulator, big_light_org, tracker_client_factory
):
    client = tracker_client_factory(big_emulator)
    ids = [issue["id"] for issue in client.search(ALL)]
    assert len(ids) == 10_050
    assert set(ids) == set(big_light_org.records)
    # 11 pages of up to 1000, the empty page that ends the scroll, then the release.
    assert big_emulator.request_count("/issues/_search$") == 12
    assert big_emulator.request_count("/scroll/_clear$") == 1


def test_paged_search_is_capped_at_10000_results(big_emulator):
    url = big_emulator.url("/v2/issues/_search")
    headers = big_emulator.auth_headers
    last_allowed = requests.post(
        url, params={"perPage": 1000, "page": 10}, json={"query": ALL}, headers=headers, timeout=10
    )
    beyond = requests.post(
        url, params={"perPage": 1000, "page": 11}, json={"query": ALL}, headers=headers, timeout=10
    )
    assert last_allowed.status_code == 200
    assert len(last_allowed.json()) == 1000
    assert last_allowed.headers["X-Total-Count"] == "10050"
    assert last_allowed.headers["X-Total-Pages"] == "11"
    assert beyond.status_code == 400
    assert "10000" in beyond.json()["errorMessages"][0]


def test_count_returns_the_true_total_beyond_the_cap(big_emulator, tracker_client_factory):
    assert tracker_client_factory(big_emulator).count(ALL) == 10_050


def test_first_scroll_request_sends_the_spec_parameters_and_body(tracker_emulator, tracker_client):
    list(tracker_client.search("Queue: CPO"))
    first = next(r for r in tracker_emulator.requests if r.path == "/v2/issues/_search")
    assert first.method == "POST"
    assert first.params == {
        "scrollType": ["unsorted"],
        "perScroll": ["1000"],
        "scrollTTLMillis": ["60000"],
        "expand": ["links"],
    }
    assert first.json() == {"query": "Queue: CPO"}


def test_next_scroll_pages_send_the_scroll_id_and_ttl(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, per_scroll=10)
    list(client.search("Queue: CPO"))
    searches = [r for r in tracker_emulator.requests if r.path == "/v2/issues/_search"]
    assert len(searches) >= 3
    for later in searches[1:]:
        assert set(later.params) == {"scrollId", "scrollTTLMillis", "expand"}
        assert later.json() == {"query": "Queue: CPO"}


def test_search_releases_every_scroll_page_when_the_consumer_stops_early(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(tracker_emulator, per_scroll=10)
    stream = client.search("Queue: CPO, FULLSTACK")
    taken = list(itertools.islice(stream, 15))
    stream.close()
    assert len(taken) == 15
    assert tracker_emulator.request_count("/scroll/_clear$") == 1
    (cleared,) = tracker_emulator.scroll_clears
    assert len(cleared) == 2  # one scrollId: scrollToken pair per page opened
    assert tracker_emulator.api.live_scrolls() == 0


def test_search_releases_the_scroll_after_reading_everything(tracker_emulator, tracker_client):
    list(tracker_client.search("Queue: CPO"))
    assert tracker_emulator.request_count("/scroll/_clear$") == 1
    assert tracker_emulator.api.live_scrolls() == 0


def test_search_releases_every_scroll_when_pages_keep_failing(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(tracker_emulator, per_scroll=10, scroll_restarts=2)
    tracker_emulator.add_fault(Fault.http(500, "scrollId=", None))
    with pytest.raises(ListingIncomplete, match="broke off 3 time"):
        list(client.search("Queue: CPO, FULLSTACK"))
    assert tracker_emulator.request_count("/scroll/_clear$") == 3  # one per scroll opened
    assert tracker_emulator.api.live_scrolls() == 0


def test_search_yields_issues_with_their_links(tracker_emulator, tracker_client):
    issues = list(tracker_client.search("Queue: FULLSTACK"))
    linked = [i for i in issues if i.get("links")]
    assert linked
    assert {"type", "direction", "object"} <= set(linked[0]["links"][0])


def test_search_requests_only_the_configured_fields(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, fields=["summary", "status", "updatedAt"])
    issues = list(client.search("Queue: CPO"))
    first = next(r for r in tracker_emulator.requests if r.path == "/v2/issues/_search")
    assert first.params["fields"] == ["summary,status,updatedAt"]
    assert set(issues[0]) == {"id", "key", "summary", "status", "updatedAt", "links"}


def test_search_without_configured_fields_sends_no_fields_parameter(
    tracker_emulator, tracker_client
):
    list(tracker_client.search("Queue: CPO"))
    assert all("fields" not in r.params for r in tracker_emulator.requests)


def test_search_is_a_snapshot_while_issues_change(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, per_scroll=10)
    expected = {r.id for r in tracker_emulator.org.live()}
    stream = client.search(ALL)
    seen = [next(stream)["id"]]
    later = next(i for i in expected if i not in seen)
    tracker_emulator.delete_issue(later)
    tracker_emulator.create_issue("CPO")
    seen += [issue["id"] for issue in stream]
    assert set(seen) == expected
    assert len(seen) == len(expected)


def test_search_answering_an_object_raises_malformed_response(tracker_emulator, tracker_client):
    tracker_emulator.add_fault(Fault.replace_body(b'{"issues": []}', "/_search"))
    with pytest.raises(MalformedResponse, match="expected a JSON array of issues") as caught:
        list(tracker_client.search("Queue: CPO"))
    assert f"POST {tracker_emulator.base_url}/v2/issues/_search" in str(caught.value)


def test_search_hands_items_that_are_not_objects_to_the_caller(tracker_emulator, tracker_client):
    # One garbled item is one bad record for the sync to quarantine, not a broken page.
    tracker_emulator.add_fault(Fault.replace_body(b'["CPO-1", null]', "/_search"))
    assert list(tracker_client.search("Queue: CPO")) == ["CPO-1", None]


def test_search_page_that_is_not_a_list_raises_malformed_response(tracker_emulator, tracker_client):
    tracker_emulator.add_fault(Fault.replace_body(b'{"issues": []}', "/_search", None))
    with pytest.raises(MalformedResponse, match="expected a JSON array of issues"):
        list(tracker_client.search("Queue: CPO"))


def test_invalid_query_is_a_non_retried_http_error(tracker_emulator, tracker_client):
    with pytest.raises(TrackerHTTPError) as caught:
        list(tracker_client.search("Nonsense: field"))
    assert caught.value.status == 400
    assert tracker_emulator.request_count("/_search$") == 1


def test_count_answering_a_string_raises_malformed_response(tracker_emulator, tracker_client):
    tracker_emulator.add_fault(Fault.replace_body(b'"many"', "/_count"))
    with pytest.raises(MalformedResponse, match="expected a number"):
        tracker_client.count("Queue: CPO")


def test_count_sends_the_query_body(tracker_emulator, tracker_client):
    expected = sum(1 for r in tracker_emulator.org.live() if r.queue == "CPO")
    assert tracker_client.count("Queue: CPO") == expected
    (request,) = tracker_emulator.requests
    assert request.json() == {"query": "Queue: CPO"}


def test_get_issue_by_key_returns_the_issue(tracker_emulator, tracker_client):
    record = next(tracker_emulator.org.live())
    assert tracker_client.get_issue(record.key)["id"] == record.id


def test_get_issue_by_an_old_key_returns_the_moved_issue(tracker_emulator, tracker_client):
    record = next(tracker_emulator.org.live())
    old_key = record.key
    new_key = tracker_emulator.move_issue(record.id, "FULLSTACK")
    issue = tracker_client.get_issue(old_key)
    assert issue["key"] == new_key
    assert old_key in issue["aliases"]


def test_get_issue_of_a_deleted_issue_raises_issue_gone(tracker_emulator, tracker_client):
    record = next(tracker_emulator.org.live())
    tracker_emulator.delete_issue(record.id)
    with pytest.raises(IssueGone) as caught:
        tracker_client.get_issue(record.id)
    assert caught.value.issue_id == record.id


def test_links_of_an_issue_are_returned(tracker_emulator, tracker_client):
    record = next(r for r in tracker_emulator.org.live() if r.links)
    assert tracker_client.links(record.key) == record.links


def test_api_version_v3_is_used_for_every_path(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, api_version="v3")
    issue = next(iter(client.search("Queue: CPO")))
    list(client.changelog(issue["id"]))
    client.count("Queue: CPO")
    paths = {r.path for r in tracker_emulator.requests}
    assert paths and all(p.startswith("/v3/") for p in paths)


def test_incremental_window_finds_the_issues_changed_since_the_mark(
    tracker_emulator, tracker_client
):
    org = tracker_emulator.org
    mark = max(r.updated_at for r in org.live())
    tracker_emulator.advance_clock(timedelta(hours=2))
    changed = set(tracker_emulator.add_changes(3))
    query = incremental_query(ALL, mark, timedelta(minutes=10))
    found = {issue["id"]: issue for issue in tracker_client.search(query)}
    assert changed <= set(found)
    window = mark - timedelta(minutes=11)
    assert all(parse_tracker_datetime(i["updatedAt"]) >= window for i in found.values())


def test_search_page_returns_one_page_and_the_total(tracker_emulator, tracker_client):
    total = len(tracker_emulator.org)
    issues, reported = tracker_client.search_page(ALL, page=2, per_page=7)
    assert len(issues) == 7
    assert reported == total
    (request,) = tracker_emulator.requests
    assert request.params == {"perPage": ["7"], "page": ["2"], "expand": ["links"]}


def test_search_page_beyond_the_paged_cap_is_an_http_error(
    tracker_emulator_factory, tracker_client_factory
):
    emulator = tracker_emulator_factory(paged_cap=20)
    client = tracker_client_factory(emulator)
    with pytest.raises(TrackerHTTPError) as caught:
        client.search_page(ALL, page=3, per_page=10)
    assert caught.value.status == 400


def test_search_keys_returns_whole_issues_for_current_and_old_keys_in_one_request(
    tracker_emulator, tracker_client
):
    new_key = tracker_emulator.move_issue("CPO-2", "FULLSTACK")
    keys = ["CPO-1", "CPO-2", "CPO-1", "CPO-99999"]

    issues = tracker_client.search_keys(keys)

    assert sorted(i["key"] for i in issues) == sorted(["CPO-1", new_key])
    assert all({"summary", "status", "updatedAt", "links"} <= set(i) for i in issues)
    (request,) = tracker_emulator.requests
    assert request.params["perPage"] == ["4"] and request.params["page"] == ["1"]
    assert request.json() == {"keys": keys}


def test_search_keys_reads_the_next_page_when_the_total_says_there_are_more(
    tracker_emulator, tracker_client
):
    # A total beyond the first page (real Tracker may cap perPage): page 2 is asked for,
    # and its empty answer ends the search.
    tracker_emulator.add_fault(Fault.replace_headers({"X-Total-Count": "5"}, r"_search$"))

    issues = tracker_client.search_keys(["CPO-1", "CPO-2"])

    assert sorted(i["key"] for i in issues) == ["CPO-1", "CPO-2"]
    pages = [r.params["page"] for r in tracker_emulator.requests]
    assert pages == [["1"], ["2"]]
