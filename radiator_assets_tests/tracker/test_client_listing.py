"""A listing is complete or it says so: a scroll page lost on the way is never skipped.

Reading a page moves a scroll, so a retry with the same scroll id would get the
*next* page. These tests break scroll pages in every way the emulator can and
check the listing still yields every issue exactly once, or raises
`ListingIncomplete`.
"""

from __future__ import annotations

from collections import Counter

import pytest

from radiator_assets.emulator import Fault, TrackerEmulator
from radiator_assets.tracker.errors import ListingIncomplete

ALL = "Queue: CPO, FULLSTACK"


def _expected_ids(emulator: TrackerEmulator) -> set[str]:
    return {r.id for r in emulator.org.live()}


def _listed(client, query: str = ALL) -> Counter[str]:
    return Counter(issue["id"] for issue in client.search(query))


@pytest.mark.parametrize(
    "fault",
    [
        Fault.truncated("scrollId=", 1),
        Fault.short_body("scrollId=", 1),
        Fault.drop("scrollId=", 1),
        Fault.http(500, "scrollId=", 1),
        Fault.http(503, "scrollId=", 1),
        Fault.replace_body("<html>502 Bad Gateway</html>", "scrollId=", 1),
    ],
    ids=["truncated", "short_body", "dropped", "http500", "http503", "html"],
)
def test_a_broken_scroll_page_restarts_the_listing_and_loses_no_issue(
    tracker_emulator, tracker_client_factory, fault
):
    client = tracker_client_factory(tracker_emulator, per_scroll=10)
    tracker_emulator.add_fault(fault)

    listed = _listed(client)

    assert set(listed) == _expected_ids(tracker_emulator)
    assert max(listed.values()) == 1  # each issue exactly once, restarts included
    assert client.counters["scroll_restarts"] == 1
    # Both scrolls are released (a page id lost with a broken page expires by its TTL).
    assert tracker_emulator.request_count("/scroll/_clear$") == 2


def test_a_scroll_that_ends_before_its_total_restarts_the_listing(
    tracker_emulator, tracker_client_factory
):
    # An empty page in the middle ends a scroll: the server lost the rest of it.
    client = tracker_client_factory(tracker_emulator, per_scroll=10)
    tracker_emulator.add_fault(Fault.replace_body("[]", "scrollId=", 1, status=200))

    listed = _listed(client)

    assert set(listed) == _expected_ids(tracker_emulator)
    assert client.counters["scroll_restarts"] == 1


def test_a_throttled_scroll_page_is_asked_again_in_place(tracker_emulator, tracker_client_factory):
    # A 429 means the server served nothing: the same scroll id is still good.
    client = tracker_client_factory(tracker_emulator, per_scroll=10)
    tracker_emulator.add_fault(Fault.throttle("scrollId=", 2, retry_after=0))

    listed = _listed(client)

    assert set(listed) == _expected_ids(tracker_emulator)
    assert client.counters["scroll_restarts"] == 0
    assert client.counters["responses_429"] == 2
    opened = [r for r in tracker_emulator.requests if "scrollType" in r.params]
    assert len(opened) == 1


def test_a_listing_that_keeps_breaking_raises_instead_of_ending_quietly(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(tracker_emulator, per_scroll=10, scroll_restarts=1)
    tracker_emulator.add_fault(Fault.truncated("scrollId=", None))
    seen: list[str] = []

    with pytest.raises(ListingIncomplete, match="not complete"):
        for issue in client.search(ALL):
            seen.append(issue["id"])

    assert 0 < len(seen) < len(_expected_ids(tracker_emulator))
    assert len(seen) == len(set(seen))
    assert tracker_emulator.request_count("/scroll/_clear$") == 2


def test_unsorted_scrolls_come_in_no_stable_order(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, per_scroll=10)
    creation_order = [r.id for r in tracker_emulator.org.live()]

    first = [i["id"] for i in client.search(ALL)]
    second = [i["id"] for i in client.search(ALL)]

    assert sorted(first) == sorted(second) == sorted(creation_order)
    assert first != creation_order
    assert first != second


def test_a_scroll_header_counting_more_than_tracker_serves_is_checked_with_count(
    tracker_emulator, tracker_client_factory
):
    # A header that counts issues the server never serves: `_count`, the true total, decides.
    client = tracker_client_factory(tracker_emulator, per_scroll=100)
    live = len(_expected_ids(tracker_emulator))
    tracker_emulator.add_fault(
        Fault.replace_headers({"X-Total-Count": str(live + 5)}, "scrollType=", None)
    )

    listed = _listed(client)

    assert set(listed) == _expected_ids(tracker_emulator)
    assert client.counters["scroll_restarts"] == 0
    assert tracker_emulator.request_count("/_count$") == 1


def test_scrolls_that_keep_ending_early_never_pass_for_complete(
    tracker_emulator, tracker_client_factory
):
    # The same page lost every time: `_count` says issues are missing, so it is an error.
    client = tracker_client_factory(tracker_emulator, per_scroll=10, scroll_restarts=3)
    tracker_emulator.add_fault(Fault.replace_body("[]", "scrollId=", None, status=200))

    with pytest.raises(ListingIncomplete, match="ended after 10 of"):
        list(client.search(ALL))
