"""Streaming search keeps memory flat: bounded by a page, not by the organisation.

The emulator runs as a separate process so that only the client's memory is traced.
"""

import tracemalloc

import pytest

from radiator_assets.emulator.process import emulator_process
from radiator_assets.tracker import TrackerClient

QUERY = "Queue: CPO, FULLSTACK"
ISSUES = 10_050


@pytest.fixture(scope="module")
def remote_client():
    with emulator_process(issues=ISSUES, seed=11, profile="light") as emulator:
        client = TrackerClient(
            base_url=emulator.base_url,
            token=emulator.token,
            org_id=emulator.org_id,
            requests_per_second=10_000,
            per_scroll=100,
            trust_env=False,
        )
        with client:
            yield client


def _peak(action) -> tuple[int, object]:
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - baseline, result


def test_streaming_search_peaks_far_below_the_payload(remote_client):
    before = remote_client.counters["bytes_received"]
    peak, streamed = _peak(lambda: sum(1 for _ in remote_client.search(QUERY)))
    payload = remote_client.counters["bytes_received"] - before
    assert streamed == ISSUES
    assert peak < payload / 4


def test_streaming_search_peaks_far_below_materialising_the_issues(remote_client):
    stream_peak, streamed = _peak(lambda: sum(1 for _ in remote_client.search(QUERY)))
    list_peak, issues = _peak(lambda: list(remote_client.search(QUERY)))
    assert streamed == len(issues) == ISSUES
    assert stream_peak < list_peak / 10
