"""How fast the Tracker emulator generates organisations (moved out of the tests).

The tests check what a generated organisation holds; how long generating it
takes depends on the machine and its load, so it is measured here, by hand:

* baseline: 1,000 issues with full history, scaled linearly to each size;
* full: 10,000 issues with full history (about 200,000 changelog entries);
* light: 10,050 issues with a light history (the big org of the search tests).

Prints a table with each measurement's ratio to the linear extrapolation of the
baseline measured in the same run (1.0 means generation scales linearly).
Usage:

    python benchmarks/bench_emulator.py [--seed 7] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from radiator_assets.emulator import Org, generate_org

BASELINE_ISSUES = 1_000


def best_of(repeat: int, issues: int, seed: int, profile: str) -> tuple[float, Org]:
    """The fastest of `repeat` generations (the least disturbed by other processes)."""
    best = float("inf")
    org: Org | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        org = generate_org(seed=seed, n_issues=issues, profile=profile)
        best = min(best, time.perf_counter() - started)
    assert org is not None
    return best, org


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    base_s, base_org = best_of(args.repeat, BASELINE_ISSUES, args.seed, "full")
    per_issue = base_s / BASELINE_ISSUES
    rows = [("baseline: 1,000 full", BASELINE_ISSUES, base_org, base_s)]
    for name, issues, profile in (
        ("10,000 full", 10_000, "full"),
        ("10,050 light", 10_050, "light"),
    ):
        seconds, org = best_of(args.repeat, issues, args.seed, profile)
        rows.append((name, issues, org, seconds))

    header = (
        f"{'organisation':<22} {'issues':>7} {'entries':>9} {'seconds':>8} {'vs baseline x n':>16}"
    )
    print(header)
    print("-" * len(header))
    for name, issues, org, seconds in rows:
        ratio = seconds / (per_issue * issues)
        print(
            f"{name:<22} {issues:>7} {org.changelog_entry_count:>9} {seconds:>8.2f} {ratio:>16.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
