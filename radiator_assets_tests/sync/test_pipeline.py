"""The producer thread between Tracker and the writer: bounded, ordered, and never left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import pytest

from radiator_assets.sync.pipeline import fetched_ahead

DEADLINE_SECONDS = 10.0


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never reached: {what}")
        time.sleep(0.01)


class Producer:
    """Counts what it produced and records that its `finally` ran, and in which thread."""

    def __init__(self, items: int, fail_after: int | None = None) -> None:
        self.items = items
        self.fail_after = fail_after
        self.produced = 0
        self.closed_in: str | None = None

    def __call__(self) -> Generator[int]:
        try:
            for n in range(self.items):
                if n == self.fail_after:
                    raise LookupError(f"fetch {n} failed")
                self.produced += 1
                yield n
        finally:
            self.closed_in = threading.current_thread().name


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_items_arrive_in_order_and_the_thread_has_ended_when_the_block_is_left() -> None:
    producer = Producer(50)
    with fetched_ahead(producer, depth=3, name="test-producer") as items:
        assert list(items) == list(range(50))
    assert producer.closed_in == "test-producer"
    assert _threads("test-producer") == []


def test_the_producer_runs_at_most_depth_items_ahead_of_a_busy_consumer() -> None:
    producer = Producer(100)
    with fetched_ahead(producer, depth=3, name="test-producer") as items:
        assert next(items) == 0
        # The consumer is "writing": the producer fills the queue (3) and holds one more.
        _wait_for(lambda: producer.produced == 1 + 3 + 1, "the queue filled")
        time.sleep(0.3)  # room for it to run further, if it could
        assert producer.produced == 5
        assert next(items) == 1
        _wait_for(lambda: producer.produced == 6, "one more fetched after one was taken")


def test_a_producer_error_comes_after_the_items_produced_before_it() -> None:
    producer = Producer(10, fail_after=4)
    received: list[int] = []
    with (
        pytest.raises(LookupError, match="fetch 4 failed"),
        fetched_ahead(producer, depth=2, name="test-producer") as items,
    ):
        for item in items:
            received.append(item)
    assert received == [0, 1, 2, 3]
    assert producer.closed_in == "test-producer"
    assert _threads("test-producer") == []


def test_a_consumer_error_stops_the_producer_and_closes_it_in_its_own_thread() -> None:
    producer = Producer(10_000)
    with (
        pytest.raises(RuntimeError, match="the write failed"),
        fetched_ahead(producer, depth=2, name="test-producer") as items,
    ):
        next(items)
        raise RuntimeError("the write failed")
    # By the time the error leaves the block, the producer has stopped and closed.
    assert producer.closed_in == "test-producer"
    assert _threads("test-producer") == []
    assert producer.produced <= 1 + 2 + 1


def test_a_depth_below_one_is_refused() -> None:
    with (
        pytest.raises(ValueError, match="depth must be at least 1"),
        fetched_ahead(Producer(1), depth=0, name="test-producer"),
    ):
        pass
