"""Tracker tests: the shared emulator fixtures plus orgs too costly to build per test."""

import pytest

from radiator_assets.tracker.emulator import Org, generate_org

BIG_ORG_ISSUES = 10_050


@pytest.fixture(scope="session")
def big_light_org() -> Org:
    """10,050 issues with a light history: past the 10,000 paged cap. Read-only!

    How fast it is generated is measured by `benchmarks/bench_emulator.py`, not here."""
    return generate_org(seed=11, n_issues=BIG_ORG_ISSUES, profile="light")


@pytest.fixture(scope="session")
def medium_org() -> Org:
    """2,000 issues with full history, for statistics over generated data. Read-only!"""
    return generate_org(seed=7, n_issues=2000)
