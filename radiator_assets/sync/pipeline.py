"""Fetching ahead of the writer: a producer thread fills a bounded queue the caller drains.

A sync writes through one connection, the one holding the sync lock, and that
connection belongs to the calling thread. Fetching from Tracker needs no
database, so `fetched_ahead` runs the fetching (a listing's pages, the
changelog fan-out) in a producer thread that hands finished items to the
caller over a bounded queue: Tracker is asked for the next items while the
caller writes the previous ones, and memory is bounded by the queue's depth.

Decisions:

* The caller's thread writes, as before. Its errors (a refused statement, a lost
  lock) are raised there; leaving the `with` block stops the producer and joins
  it, so no fetch thread outlives the call.
* A producer error travels through the queue behind the items produced before it:
  the caller writes everything fetched before the failure, then gets the error
  (the sequential code did the same). A producer that dies without a word cannot
  leave the caller waiting either: the caller notices the thread is gone.
* The producer's iterator is closed in the producer's own thread
  (`contextlib.closing`) before the `with` block is left: a listing's scroll
  release and the fetch pool's shutdown never wait for a garbage collector
  running in some other thread (one such finalizer once ran in an emulator thread
  and waited on itself).
* Stopping is prompt but not violent: the producer notices the stop after the
  item it is working on (for the changelog fan-out, the requests in flight
  finish; none is started).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.1  # how often a blocked producer or consumer looks at the other side


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


class _Ahead(Generic[T]):
    """One producer thread and the bounded queue it fills; iterate to consume."""

    def __init__(self, produce: Callable[[], Generator[T]], depth: int, name: str) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self, produce: Callable[[], Generator[T]]) -> None:
        try:
            with closing(produce()) as items:
                for item in items:
                    if not self._hand_over(item):
                        return  # the consumer stopped: closing() ends the fetching here
        except BaseException as exc:  # every error goes to the consumer, none is lost
            self._hand_over(_Failed(exc))
            return
        self._hand_over(_END)

    def _hand_over(self, item: object) -> bool:
        """Put `item` on the queue, waiting while it is full; False once stopping."""
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._thread.is_alive() or not self._queue.empty():
                    continue
                raise RuntimeError(f"{self._thread.name} ended without a result") from None
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]

    def stop(self) -> None:
        """Stop the producer and wait until its thread (and what it closes) has ended."""
        self._stopping.set()
        while self._thread.is_alive():
            self._drain()
            self._thread.join(_POLL_SECONDS)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


@contextmanager
def fetched_ahead(
    produce: Callable[[], Generator[T]], *, depth: int, name: str
) -> Iterator[Iterator[T]]:
    """Run `produce()` in a thread named `name`, at most `depth` items ahead of the
    consumer; yields the iterator of its items (its error is raised there, after the
    items produced before it). The thread has ended when the block is left."""
    ahead = _Ahead(produce, depth, name)
    ahead.start()
    try:
        yield iter(ahead)
    finally:
        ahead.stop()
