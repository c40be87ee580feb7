"""The emulator's HTTP surface, checked with plain `requests` (not the client under test)."""

import json
import time

import pytest
import requests

from radiator_assets.emulator import Fault


def _post(emulator, path, body, params=None, headers=None):
    return requests.post(
        emulator.url(path),
        params=params,
        json=body,
        headers=emulator.auth_headers if headers is None else headers,
        timeout=10,
    )


def _get(emulator, path, params=None, headers=None):
    return requests.get(
        emulator.url(path),
        params=params,
        headers=emulator.auth_headers if headers is None else headers,
        timeout=10,
    )


def _keys(response):
    return [issue["key"] for issue in response.json()]


# --- auth ---------------------------------------------------------------------------
def test_missing_authorization_is_401(tracker_emulator):
    headers = {"X-Org-ID": tracker_emulator.org_id}
    response = _post(tracker_emulator, "/v2/issues/_count", {}, headers=headers)
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401


def test_wrong_token_is_401(tracker_emulator):
    headers = {**tracker_emulator.auth_headers, "Authorization": "OAuth nope"}
    assert _post(tracker_emulator, "/v2/issues/_count", {}, headers=headers).status_code == 401


def test_missing_org_header_is_403(tracker_emulator):
    headers = {"Authorization": f"OAuth {tracker_emulator.token}"}
    assert _post(tracker_emulator, "/v2/issues/_count", {}, headers=headers).status_code == 403


def test_wrong_org_id_is_403(tracker_emulator):
    headers = {**tracker_emulator.auth_headers, "X-Org-ID": "other"}
    assert _post(tracker_emulator, "/v2/issues/_count", {}, headers=headers).status_code == 403


def test_cloud_org_header_for_a_360_org_is_403(tracker_emulator):
    headers = {
        "Authorization": f"OAuth {tracker_emulator.token}",
        "X-Cloud-Org-ID": tracker_emulator.org_id,
    }
    assert _post(tracker_emulator, "/v2/issues/_count", {}, headers=headers).status_code == 403


def test_bearer_token_is_accepted(tracker_emulator):
    headers = {**tracker_emulator.auth_headers, "Authorization": f"Bearer {tracker_emulator.token}"}
    assert _post(tracker_emulator, "/v2/issues/_count", {}, headers=headers).status_code == 200


def test_every_endpoint_is_also_served_under_v3(tracker_emulator):
    record = next(tracker_emulator.org.live())
    assert _post(tracker_emulator, "/v3/issues/_count", {"query": "Queue: CPO"}).status_code == 200
    assert _get(tracker_emulator, f"/v3/issues/{record.key}").json()["id"] == record.id
    assert _get(tracker_emulator, f"/v3/issues/{record.id}/changelog").status_code == 200
    assert _get(tracker_emulator, f"/v3/issues/{record.id}/links").status_code == 200


# --- search -------------------------------------------------------------------------
def test_paged_search_reports_totals_and_next_link(tracker_emulator):
    total = len(tracker_emulator.org)
    response = _post(tracker_emulator, "/v2/issues/_search", {}, {"perPage": 7, "page": 2})
    assert len(response.json()) == 7
    assert response.headers["X-Total-Count"] == str(total)
    assert response.headers["X-Total-Pages"] == str(-(-total // 7))
    assert 'rel="next"' in response.headers["Link"]


def test_paged_cap_is_configurable(tracker_emulator_factory):
    emulator = tracker_emulator_factory(paged_cap=20)
    ok = _post(emulator, "/v2/issues/_search", {}, {"perPage": 10, "page": 2})
    capped = _post(emulator, "/v2/issues/_search", {}, {"perPage": 10, "page": 3})
    assert ok.status_code == 200
    assert capped.status_code == 400


def test_scroll_headers_and_empty_last_page(tracker_emulator):
    first = _post(
        tracker_emulator,
        "/v2/issues/_search",
        {"query": "Queue: CPO"},
        {"scrollType": "unsorted", "perScroll": 1000, "scrollTTLMillis": 60000},
    )
    cpo = sum(1 for r in tracker_emulator.org.live() if r.queue == "CPO")
    assert len(first.json()) == cpo
    assert first.headers["X-Total-Count"] == str(cpo)
    assert first.headers["X-Scroll-Token"]
    assert 'rel="next"' in first.headers["Link"]
    last = _post(
        tracker_emulator,
        "/v2/issues/_search",
        {"query": "Queue: CPO"},
        {"scrollId": first.headers["X-Scroll-Id"], "scrollTTLMillis": 60000},
    )
    assert last.json() == []
    assert "Link" not in last.headers


@pytest.mark.parametrize("body", [{"keys": ["CPO-1"]}, {"queue": "CPO"}])
def test_scroll_is_refused_with_keys_or_queue(tracker_emulator, body):
    response = _post(tracker_emulator, "/v2/issues/_search", body, {"scrollType": "unsorted"})
    assert response.status_code == 400
    assert response.json()["errorMessages"] == ["Scroll is not supported"]


def test_per_scroll_above_1000_is_refused(tracker_emulator):
    params = {"scrollType": "unsorted", "perScroll": 1001}
    assert _post(tracker_emulator, "/v2/issues/_search", {}, params).status_code == 400


def test_expired_scroll_is_404(tracker_emulator):
    first = _post(
        tracker_emulator,
        "/v2/issues/_search",
        {},
        {"scrollType": "unsorted", "perScroll": 5, "scrollTTLMillis": 1},
    )
    time.sleep(0.02)
    again = _post(
        tracker_emulator, "/v2/issues/_search", {}, {"scrollId": first.headers["X-Scroll-Id"]}
    )
    assert again.status_code == 404


def test_scroll_clear_with_a_wrong_token_is_refused(tracker_emulator):
    first = _post(
        tracker_emulator, "/v2/issues/_search", {}, {"scrollType": "unsorted", "perScroll": 5}
    )
    body = {first.headers["X-Scroll-Id"]: "forged"}
    assert _post(tracker_emulator, "/v2/system/search/scroll/_clear", body).status_code == 400


def test_query_by_key_list_matches_current_and_old_keys(tracker_emulator):
    a, b = list(tracker_emulator.org.live())[:2]
    old = a.key
    new = tracker_emulator.move_issue(a.id, "FULLSTACK")
    response = _post(tracker_emulator, "/v2/issues/_search", {"query": f"Key: {old}, {b.key}"})
    assert sorted(_keys(response)) == sorted([new, b.key])


def test_query_queue_and_updated_window(tracker_emulator):
    org = tracker_emulator.org
    records = sorted(org.live(), key=lambda r: r.updated_at)
    pivot = records[len(records) // 2].updated_at.replace(second=0, microsecond=0)
    literal = pivot.strftime("%Y-%m-%d %H:%M:%S")
    query = f'Queue: CPO AND Updated: >= "{literal}"'
    expected = {r.key for r in records if r.queue == "CPO" and r.updated_at >= pivot}
    assert (
        set(
            _keys(_post(tracker_emulator, "/v2/issues/_search", {"query": query}, {"perPage": 100}))
        )
        == expected
    )


def test_query_sort_by_updated_ascending(tracker_emulator):
    query = 'Queue: CPO, FULLSTACK "Sort by": Updated ASC'
    response = _post(tracker_emulator, "/v2/issues/_search", {"query": query}, {"perPage": 100})
    order = [tracker_emulator.org.resolve(k).updated_at for k in _keys(response)]
    assert order == sorted(order)
    assert len(order) == len(tracker_emulator.org)


def test_query_with_or_and_parentheses(tracker_emulator):
    query = "(Queue: CPO OR Queue: FULLSTACK) AND Status: open, new"
    keys = _keys(_post(tracker_emulator, "/v2/issues/_search", {"query": query}, {"perPage": 100}))
    expected = {r.key for r in tracker_emulator.org.live() if r.status["key"] in ("open", "new")}
    assert set(keys) == expected


def test_unknown_query_field_is_400(tracker_emulator):
    response = _post(tracker_emulator, "/v2/issues/_search", {"query": "Colour: red"})
    assert response.status_code == 400
    assert "unknown field" in response.json()["errorMessages"][0]


def test_filter_and_keys_bodies_select_issues(tracker_emulator):
    records = list(tracker_emulator.org.live())
    by_filter = _post(
        tracker_emulator, "/v2/issues/_search", {"filter": {"queue": "CPO"}}, {"perPage": 100}
    )
    assert set(_keys(by_filter)) == {r.key for r in records if r.queue == "CPO"}
    by_keys = _post(tracker_emulator, "/v2/issues/_search", {"keys": [records[0].key]})
    assert _keys(by_keys) == [records[0].key]


def test_count_is_a_json_number(tracker_emulator):
    response = _post(tracker_emulator, "/v2/issues/_count", {"query": "Queue: FULLSTACK"})
    expected = sum(1 for r in tracker_emulator.org.live() if r.queue == "FULLSTACK")
    assert json.loads(response.content) == expected


def test_fields_and_expand_links_shape_the_issue(tracker_emulator):
    record = next(r for r in tracker_emulator.org.live() if r.links)
    plain = _get(tracker_emulator, f"/v2/issues/{record.id}").json()
    shaped = _get(
        tracker_emulator, f"/v2/issues/{record.id}", {"fields": "summary", "expand": "links"}
    ).json()
    assert "links" not in plain
    assert set(shaped) == {"id", "key", "summary", "links"}
    assert shaped["links"] == record.links


# --- changelog ----------------------------------------------------------------------
def test_changelog_next_link_carries_the_cursor_as_last_parameter(tracker_emulator):
    record = max(tracker_emulator.org.live(), key=lambda r: len(r.changelog))
    response = _get(tracker_emulator, f"/v2/issues/{record.key}/changelog", {"perPage": 2})
    assert response.headers["Link"].endswith(f'&id={record.changelog_ids[1]}>; rel="next"')
    assert 'rel="first"' in response.headers["Link"]


def test_changelog_of_unknown_issue_is_404(tracker_emulator):
    assert _get(tracker_emulator, "/v2/issues/NOPE-1/changelog").status_code == 404


# --- faults and logs ----------------------------------------------------------------
def test_fault_fires_count_times_then_stops(tracker_emulator):
    tracker_emulator.add_fault(Fault.http(503, "/_count", 2))
    statuses = [_post(tracker_emulator, "/v2/issues/_count", {}).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_fault_skip_lets_the_first_requests_through(tracker_emulator):
    tracker_emulator.add_fault(Fault.http(500, "/_count", 1, skip=1))
    statuses = [_post(tracker_emulator, "/v2/issues/_count", {}).status_code for _ in range(3)]
    assert statuses == [200, 500, 200]


def test_throttle_fault_sends_retry_after(tracker_emulator):
    tracker_emulator.add_fault(Fault.throttle("/_count", 1, retry_after=3))
    response = _post(tracker_emulator, "/v2/issues/_count", {})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"


def test_truncate_fault_cuts_the_json_with_a_matching_length(tracker_emulator):
    record = next(tracker_emulator.org.live())
    tracker_emulator.add_fault(Fault.truncated(f"/issues/{record.id}$"))
    response = _get(tracker_emulator, f"/v2/issues/{record.id}")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_drop_fault_closes_without_an_answer(tracker_emulator):
    tracker_emulator.add_fault(Fault.drop("/_count"))
    with pytest.raises(requests.ConnectionError):
        _post(tracker_emulator, "/v2/issues/_count", {})


def test_latency_is_added_to_every_request(tracker_emulator_factory):
    emulator = tracker_emulator_factory(latency=0.05)
    pauses: list[float] = []
    pause = emulator._pause
    # Record the pauses instead of timing them (a test never reads the wall clock).
    emulator._pause = lambda seconds: (pauses.append(seconds), pause(seconds))  # type: ignore[method-assign]
    _post(emulator, "/v2/issues/_count", {})
    _get(emulator, "/v2/issues/CPO-1")
    assert pauses == [0.05, 0.05]


def test_request_log_counts_per_path(tracker_emulator):
    _post(tracker_emulator, "/v2/issues/_count", {})
    _post(tracker_emulator, "/v2/issues/_count", {})
    _get(tracker_emulator, "/v2/issues/CPO-1")
    assert tracker_emulator.counts_by_path() == {
        "POST /v2/issues/_count": 2,
        "GET /v2/issues/CPO-1": 1,
    }
    assert tracker_emulator.request_count("_count", method="POST") == 2
