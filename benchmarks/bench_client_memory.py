"""Peak memory of `TrackerClient.search` streaming vs materialising every issue.

Starts the Tracker emulator as a separate process (so only the client's
allocations are traced), then reads the same scroll twice under tracemalloc:

* baseline: `list(client.search(query))`, the naive "list everything" approach;
* streaming: consume `client.search(query)` one issue at a time.

Prints a table with the ratio of each peak to the baseline measured in the
same run. Usage:

    python benchmarks/bench_client_memory.py [--issues 50000] [--per-scroll 1000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from radiator_assets.emulator.process import emulator_process
from radiator_assets.tracker import TrackerClient

QUERY = "Queue: CPO, FULLSTACK"
MIB = 1024 * 1024


def measure(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """(peak MiB above the starting point, seconds, result) of `action()`."""
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - baseline) / MIB, seconds, result


def stream_count(client: TrackerClient) -> int:
    count = 0
    for _issue in client.search(QUERY):
        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=50_000)
    parser.add_argument("--per-scroll", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    print(f"starting the emulator with {args.issues} issues (light history)...", flush=True)
    with emulator_process(issues=args.issues, seed=args.seed, profile="light") as emulator:
        client = TrackerClient(
            base_url=emulator.base_url,
            token=emulator.token,
            org_id=emulator.org_id,
            requests_per_second=10_000,
            per_scroll=args.per_scroll,
            trust_env=False,
        )
        with client:
            before = client.counters.snapshot()
            base_peak, base_s, issues = measure(lambda: list(client.search(QUERY)))
            payload_mib = client.counters.since(before)["bytes_received"] / MIB
            n_listed = len(issues)
            del issues
            stream_peak, stream_s, n_streamed = measure(lambda: stream_count(client))

    rows = [
        ("baseline: list(search())", n_listed, base_peak, base_s),
        ("streaming: for issue in search()", n_streamed, stream_peak, stream_s),
    ]
    print()
    print(
        f"payload per full read: {payload_mib:.1f} MiB over the wire, perScroll={args.per_scroll}"
    )
    header = f"{'approach':<36} {'issues':>8} {'peak MiB':>10} {'seconds':>8} {'vs baseline':>12}"
    print(header)
    print("-" * len(header))
    for name, count, peak, seconds in rows:
        print(f"{name:<36} {count:>8} {peak:>10.1f} {seconds:>8.1f} {peak / base_peak:>11.1%}")
    if n_listed != n_streamed:
        print("MISMATCH: the two reads returned different numbers of issues")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
