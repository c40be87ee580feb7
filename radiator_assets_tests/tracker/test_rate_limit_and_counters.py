"""The shared token bucket and the request counters."""

import threading

from radiator_assets.tracker.counters import RequestCounters
from radiator_assets.tracker.rate_limit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_bucket_lets_the_burst_through_without_waiting():
    t = FakeTime()
    bucket = TokenBucket(5, burst=3, clock=t.clock, sleep=t.sleep)
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert t.sleeps == []


def test_bucket_spaces_requests_beyond_the_burst_at_the_rate():
    t = FakeTime()
    bucket = TokenBucket(5, burst=1, clock=t.clock, sleep=t.sleep)
    waits = [bucket.acquire() for _ in range(4)]
    assert waits[0] == 0.0
    assert [round(w, 6) for w in waits[1:]] == [0.2, 0.2, 0.2]


def test_bucket_refills_while_idle():
    t = FakeTime()
    bucket = TokenBucket(2, burst=1, clock=t.clock, sleep=t.sleep)
    bucket.acquire()
    t.now += 10
    assert bucket.acquire() == 0.0


def test_bucket_caps_the_rate_across_threads():
    # The clock stands still, so every token is reserved at the same instant: whatever
    # the interleaving of the threads, the k-th token must wait k intervals.
    t = FakeTime()
    waits: list[float] = []
    bucket = TokenBucket(200, burst=1, clock=t.clock, sleep=lambda _: None)

    def worker() -> None:
        for _ in range(5):
            waits.append(bucket.acquire())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # 20 tokens at 200/s with a burst of 1 cannot be had in less than 19 intervals.
    assert [round(w, 6) for w in sorted(waits)] == [round(k / 200, 6) for k in range(20)]


def test_counters_snapshot_since_and_reset():
    counters = RequestCounters()
    counters.add("requests", 3)
    before = counters.snapshot()
    counters.add("requests")
    counters.add("bytes_received", 100)
    assert counters.since(before)["requests"] == 1
    assert counters.since(before)["bytes_received"] == 100
    assert counters.reset()["requests"] == 4
    assert counters.snapshot()["requests"] == 0


def test_counters_are_thread_safe():
    counters = RequestCounters()

    def bump() -> None:
        for _ in range(10_000):
            counters.add("retries")

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert counters["retries"] == 40_000
