"""`radiator emulator`: run the Tracker emulator as a foreground process.

Prints what a user needs to point radiator (or curl) at it, then serves
until Ctrl+C or SIGTERM. With `--churn-seconds N` the organisation lives
(`live.Churn`): its clock starts at real time instead of the fixed
`DEFAULT_NOW` and follows it, and every N seconds issues move, appear and go,
one printed line per step.
"""

from __future__ import annotations

import argparse
import math
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence

from radiator_assets.emulator.generator import PROFILES, generate_org
from radiator_assets.emulator.live import Churn, ChurnStep, wall_clock
from radiator_assets.emulator.model import DEFAULT_NOW, Org
from radiator_assets.emulator.server import (
    DEFAULT_ORG_ID,
    DEFAULT_TOKEN,
    TrackerEmulator,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radiator emulator",
        description="Serve a generated Yandex Tracker organisation on a loopback port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port (0 = any free port)")
    parser.add_argument("--issues", type=int, default=2000, help="number of issues to generate")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (same seed, same data)")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="full",
        help="history per issue: full (~20 entries) or light (~3)",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added per request")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="token the emulator accepts")
    parser.add_argument("--org-id", default=DEFAULT_ORG_ID, help="organisation id it accepts")
    parser.add_argument(
        "--cloud-org",
        action="store_true",
        help="expect X-Cloud-Org-ID instead of X-Org-ID",
    )
    parser.add_argument(
        "--churn-seconds",
        type=nonnegative_seconds,
        default=0.0,
        metavar="N",
        help="a living organisation: its clock follows real time and every N seconds issues "
        "move status, appear and are deleted (0, the default: a still organisation whose "
        "clock stands at a fixed day)",
    )
    return parser


def nonnegative_seconds(value: str) -> float:
    """argparse type: a finite number of seconds, 0 or more."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not (math.isfinite(seconds) and seconds >= 0):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds >= 0")
    return seconds


def first_day(emulator: TrackerEmulator) -> str:
    """The day the emulated organisation's first issue was created (UTC)."""
    created = (record.created_at for record in emulator.org.records.values())
    return min(created, default=emulator.org.now).date().isoformat()


def banner(
    emulator: TrackerEmulator, issues: int, seed: int, seconds: float, churn: Churn | None = None
) -> str:
    base = emulator.base_url
    org_var = (
        "TRACKER_CLOUD_ORG_ID" if emulator.org_header == "X-Cloud-Org-ID" else "TRACKER_ORG_ID"
    )
    entries = emulator.org.changelog_entry_count
    curl = (
        f"curl -s -X POST {shlex.quote(base + '/v2/issues/_search?perPage=2')} "
        f"-H {shlex.quote('Authorization: OAuth ' + emulator.token)} "
        f"-H {shlex.quote(emulator.org_header + ': ' + emulator.org_id)} "
        f"-H 'Content-Type: application/json' -d '{{\"query\": \"Queue: CPO\"}}'"
    )
    return "\n".join(
        [
            f"Tracker emulator: {issues} issues, {entries} changelog entries "
            f"(seed {seed}) generated in {seconds:.1f} s",
            f"  base URL : {base}",
            f"  token    : {emulator.token}   (send 'Authorization: OAuth {emulator.token}')",
            f"  org id   : {emulator.org_id}   (send '{emulator.org_header}: {emulator.org_id}')",
            "",
            "Try:",
            f"  {curl}",
            "",
            "Point radiator at it (its history starts on its first issue's day):",
            f"  export TRACKER_API_URL={base} TRACKER_TOKEN={emulator.token} "
            f"{org_var}={emulator.org_id} TRACKER_QUERY='Queue: CPO, FULLSTACK' "
            f"RADIATOR_HISTORY_START={first_day(emulator)}",
            "",
            *([f"The organisation lives: {churn.cadence()}.", ""] if churn else []),
            "Ctrl+C stops it.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `radiator emulator ...`; returns the exit code."""
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    # A living organisation starts at real time (its clock follows it); a still one stands
    # at a fixed day, so the same seed serves the very same JSON.
    now = wall_clock().replace(microsecond=0) if args.churn_seconds else DEFAULT_NOW
    org = generate_org(seed=args.seed, n_issues=args.issues, profile=args.profile, now=now)
    elapsed = time.perf_counter() - started
    emulator = TrackerEmulator(
        org,
        token=args.token,
        org_id=args.org_id,
        cloud_org=args.cloud_org,
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000.0,
    )
    try:
        emulator.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    churn = _churn(org, args.churn_seconds, args.seed)
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    # Before the banner: whoever reads it may send SIGTERM at once.
    previous = signal.signal(signal.SIGTERM, _stop)
    print(banner(emulator, args.issues, args.seed, elapsed, churn), flush=True)
    try:
        if churn is not None:
            churn.start()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if churn is not None:
            churn.stop()
        emulator.stop()
        print("Tracker emulator stopped.", flush=True)
    return 0


def _churn(org: Org, seconds: float, seed: int) -> Churn | None:
    """The organisation's life (None when `seconds` is 0), each step printed."""
    if not seconds:
        return None

    def say(step: ChurnStep) -> None:
        print(step.describe(), flush=True)

    return Churn(org, seconds=seconds, seed=seed, on_step=say)


if __name__ == "__main__":
    sys.exit(main())
