"""Each injected fault is survived or reported as specified, with exact request counts."""

import random
import socket

import pytest
import requests

from radiator_assets.emulator import Fault
from radiator_assets.tracker import (
    MalformedResponse,
    TrackerClient,
    TrackerConfigError,
    TrackerHTTPError,
    TrackerUnavailable,
)
from radiator_assets.tracker.rate_limit import TokenBucket


class FakeTime:
    """An injected clock and sleep: backoff is recorded instead of waited."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class MaxJitter(random.Random):
    """Full jitter always drawing the ceiling: makes the backoff schedule visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def client(tracker_emulator, tracker_client_factory, fake_time):
    return tracker_client_factory(
        tracker_emulator,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        max_retry_seconds=60.0,
        backoff_base=0.5,
        backoff_cap=30.0,
    )


def _issue_path(emulator) -> tuple[str, str]:
    record = next(emulator.org.live())
    return record.key, rf"/v2/issues/{record.key}$"


def test_two_503s_then_success_takes_three_requests(tracker_emulator, client):
    tracker_emulator.add_fault(Fault.http(503, "/_count", 2))
    assert client.count("Queue: CPO") > 0
    assert tracker_emulator.request_count("/_count$") == 3
    assert client.counters["retries"] == 2
    assert client.counters["requests"] == 3


def test_a_500_burst_on_get_issue_is_retried(tracker_emulator, client):
    key, path = _issue_path(tracker_emulator)
    tracker_emulator.add_fault(Fault.http(500, path, 3))
    assert client.get_issue(key)["key"] == key
    assert tracker_emulator.request_count(path) == 4


def test_retry_after_seconds_is_honoured(tracker_emulator, client, fake_time):
    tracker_emulator.add_fault(Fault.throttle("/_count", 1, retry_after=7))
    client.count("Queue: CPO")
    assert fake_time.sleeps == [7.0]
    assert tracker_emulator.request_count("/_count$") == 2


def test_429_is_counted_as_throttled(tracker_emulator, client):
    tracker_emulator.add_fault(Fault.throttle("/_count", 2, retry_after=1))
    client.count("Queue: CPO")
    assert client.counters["responses_429"] == 2
    assert client.counters["throttled"] >= 2


def test_429_without_retry_after_backs_off_with_jitter(
    tracker_emulator, tracker_client_factory, fake_time
):
    client = tracker_client_factory(
        tracker_emulator,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        backoff_base=0.5,
        rng=random.Random(3),
    )
    tracker_emulator.add_fault(Fault.throttle("/_count", 1))
    client.count("Queue: CPO")
    (delay,) = fake_time.sleeps
    assert 0 <= delay <= 0.5


def test_backoff_doubles_up_to_the_cap(tracker_emulator, tracker_client_factory, fake_time):
    client = tracker_client_factory(
        tracker_emulator,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        backoff_base=0.5,
        backoff_cap=3.0,
        max_retry_seconds=60,
        rng=MaxJitter(),
    )
    tracker_emulator.add_fault(Fault.http(503, "/_count", 5))
    client.count("Queue: CPO")
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_exhausted_retry_budget_raises_unavailable_naming_the_endpoint(
    tracker_emulator, tracker_client_factory, fake_time
):
    client = tracker_client_factory(
        tracker_emulator,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        backoff_base=1.0,
        backoff_cap=4.0,
        max_retry_seconds=10.0,
        rng=MaxJitter(),
    )
    tracker_emulator.add_fault(Fault.http(503, "/_count", None))
    with pytest.raises(TrackerUnavailable) as caught:
        client.count("Queue: CPO")
    error = caught.value
    assert f"POST {tracker_emulator.base_url}/v2/issues/_count" in str(error)
    assert "HTTP 503" in str(error)
    # Waits 1 + 2 + 4 = 7 s; the next 4 s would pass the 10 s budget.
    assert fake_time.sleeps == [1.0, 2.0, 4.0]
    assert error.attempts == 4
    assert tracker_emulator.request_count("/_count$") == 4


def test_retry_after_beyond_the_budget_gives_up_at_once(tracker_emulator, client, fake_time):
    tracker_emulator.add_fault(Fault.throttle("/_count", 1, retry_after=3600))
    with pytest.raises(TrackerUnavailable, match="Retry-After"):
        client.count("Queue: CPO")
    assert fake_time.sleeps == []
    assert tracker_emulator.request_count("/_count$") == 1


def test_zero_retry_budget_means_one_attempt(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, max_retry_seconds=0)
    tracker_emulator.add_fault(Fault.http(502, "/_count", 1))
    with pytest.raises(TrackerUnavailable):
        client.count("Queue: CPO")
    assert tracker_emulator.request_count("/_count$") == 1


def test_truncated_json_is_retried_then_succeeds(tracker_emulator, client):
    key, path = _issue_path(tracker_emulator)
    tracker_emulator.add_fault(Fault.truncated(path, 1))
    assert client.get_issue(key)["key"] == key
    assert tracker_emulator.request_count(path) == 2


def test_persistently_truncated_json_raises_malformed_response_with_body_start(
    tracker_emulator, client
):
    key, path = _issue_path(tracker_emulator)
    tracker_emulator.add_fault(Fault.truncated(path, None))
    with pytest.raises(MalformedResponse) as caught:
        client.get_issue(key)
    message = str(caught.value)
    assert f"GET {tracker_emulator.base_url}/v2/issues/{key}" in message
    assert '{"id": "' in message
    assert tracker_emulator.request_count(path) == 3  # 1 + malformed_retries


def test_malformed_snippet_is_cut_to_200_bytes(tracker_emulator, client):
    tracker_emulator.add_fault(Fault.replace_body(b"<html>" + b"x" * 1000, "/_count", None))
    with pytest.raises(MalformedResponse) as caught:
        client.count("Queue: CPO")
    assert caught.value.snippet.startswith("<html>xxx")
    assert len(caught.value.snippet) == 203  # 200 bytes and an ellipsis


def test_body_shorter_than_its_content_length_is_retried(tracker_emulator, client):
    key, path = _issue_path(tracker_emulator)
    tracker_emulator.add_fault(Fault.short_body(path, 1))
    assert client.get_issue(key)["key"] == key
    assert tracker_emulator.request_count(path) == 2
    assert client.counters["retries"] == 1


def test_dropped_connections_are_retried(tracker_emulator, client):
    tracker_emulator.add_fault(Fault.drop("/_search", 2))
    issues = list(client.search("Queue: CPO"))
    assert len(issues) == sum(1 for r in tracker_emulator.org.live() if r.queue == "CPO")
    dropped = [r for r in tracker_emulator.requests if r.fault == "drop"]
    assert len(dropped) == 2
    # two dropped attempts, the page, the empty page that ends the scroll
    assert tracker_emulator.request_count("/_search$") == 4


def test_slow_response_times_out_then_is_retried(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, read_timeout=0.3)
    tracker_emulator.add_fault(Fault.slow(2.0, "/_count", 1))
    assert client.count("Queue: CPO") > 0
    # The 2 s answer was cut by the 0.3 s read timeout and asked again: had the client
    # waited for it, one request would have sufficed and nothing would be retried.
    assert [r.fault for r in tracker_emulator.requests if "/_count" in r.path] == ["slow", None]
    assert client.counters["retries"] == 1


def test_refused_connection_ends_in_unavailable(tracker_client_factory, tracker_emulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = tracker_client_factory(
        tracker_emulator, base_url=f"http://127.0.0.1:{port}", max_retry_seconds=0.2
    )
    with pytest.raises(TrackerUnavailable, match="ConnectionError"):
        client.count("Queue: CPO")


def test_wrong_token_is_a_config_error_naming_the_authorization_header(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(tracker_emulator, token="not-the-token")
    with pytest.raises(TrackerConfigError) as caught:
        client.count("Queue: CPO")
    assert caught.value.status == 401
    assert "Authorization" in str(caught.value)
    assert "TRACKER_TOKEN" in str(caught.value)
    assert tracker_emulator.request_count() == 1


def test_wrong_org_id_is_a_config_error_naming_both_org_headers(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(tracker_emulator, org_id="999")
    with pytest.raises(TrackerConfigError) as caught:
        client.count("Queue: CPO")
    message = str(caught.value)
    assert caught.value.status == 403
    assert "X-Org-ID='999'" in message
    assert "X-Cloud-Org-ID" in message
    assert tracker_emulator.request_count() == 1


def test_cloud_org_header_sent_to_a_360_org_is_refused_with_a_hint(
    tracker_emulator, tracker_client_factory
):
    client = tracker_client_factory(tracker_emulator, cloud_org_id=tracker_emulator.org_id)
    with pytest.raises(TrackerConfigError, match="X-Org-ID \\(TRACKER_ORG_ID\\) instead"):
        client.count("Queue: CPO")


def test_cloud_org_client_works_with_a_cloud_org(tracker_emulator_factory, tracker_client_factory):
    emulator = tracker_emulator_factory(cloud_org=True)
    client = tracker_client_factory(emulator)
    assert client.org_header == "X-Cloud-Org-ID"
    assert client.count("Queue: CPO") > 0


def test_bearer_scheme_is_sent_when_configured(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, auth_scheme="Bearer")
    assert client.count("Queue: CPO") > 0


def test_client_requires_exactly_one_org_id(tracker_emulator):
    with pytest.raises(TrackerConfigError, match="exactly one organisation"):
        TrackerClient(token="t", org_id="1", cloud_org_id="2")
    with pytest.raises(TrackerConfigError, match="exactly one organisation"):
        TrackerClient(token="t")


def test_unexpected_status_is_not_retried(tracker_emulator, client):
    tracker_emulator.add_fault(Fault.http(422, "/_count", None))
    with pytest.raises(TrackerHTTPError) as caught:
        client.count("Queue: CPO")
    assert caught.value.status == 422
    assert tracker_emulator.request_count("/_count$") == 1


class RecordingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[object] = []

    def send(self, request, **kwargs):
        self.timeouts.append(kwargs.get("timeout"))
        return super().send(request, **kwargs)


def test_every_request_has_connect_and_read_timeouts(tracker_emulator, tracker_client_factory):
    session = RecordingSession()
    client = tracker_client_factory(
        tracker_emulator, session=session, connect_timeout=1.5, read_timeout=4.5
    )
    issue = next(iter(client.search("Queue: CPO")))
    list(client.changelog(issue["id"]))
    client.count("Queue: CPO")
    assert len(session.timeouts) >= 4
    assert set(session.timeouts) == {(1.5, 4.5)}


def test_connection_pool_is_sized_to_the_workers(tracker_emulator, tracker_client_factory):
    client = tracker_client_factory(tracker_emulator, workers=5)
    adapter = client._transport.session.get_adapter(tracker_emulator.base_url)
    assert adapter._pool_maxsize == 6  # the workers and the search thread


def test_client_side_rate_limit_waits_are_counted(tracker_emulator, tracker_client_factory):
    fake = FakeTime()
    limiter = TokenBucket(50, burst=1, clock=fake.clock, sleep=fake.sleep)
    client = tracker_client_factory(tracker_emulator, limiter=limiter)
    for _ in range(4):
        client.count("Queue: CPO")
    # One token saved up, then one every 1/50 s: three waits of 0.02 s, on an injected clock.
    assert [round(s, 6) for s in fake.sleeps] == [0.02, 0.02, 0.02]
    assert client.counters["limiter_waits"] == 3
    assert client.counters["throttled"] == client.counters["limiter_waits"]
    assert round(client.counters["limiter_wait_seconds"], 6) == 0.06


def test_bytes_received_are_counted(tracker_emulator, tracker_client):
    before = tracker_client.counters.snapshot()
    record = next(tracker_emulator.org.live())
    tracker_client.get_issue(record.id)
    assert tracker_client.counters.since(before)["bytes_received"] > 200
    assert tracker_client.counters.since(before)["requests"] == 1


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("bypassed", [False, True])
def test_the_proxy_environment_is_honoured_with_trust_env(
    tracker_emulator, tracker_client_factory, monkeypatch, bypassed
):
    """The environment is read once per origin, not per request, but still read: a proxy
    that refuses connections stops the client unless `no_proxy` names the host."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_refused_port()}")
    monkeypatch.setenv("no_proxy", "127.0.0.1" if bypassed else "example.invalid")
    client = tracker_client_factory(tracker_emulator, trust_env=True, max_retry_seconds=0.2)
    if bypassed:
        assert client.count("Queue: CPO") > 0
        assert tracker_emulator.request_count("/_count$") == 1
    else:
        with pytest.raises(TrackerUnavailable, match="ProxyError"):
            client.count("Queue: CPO")
