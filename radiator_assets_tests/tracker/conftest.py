"""Tracker tests: the shared emulator fixtures plus orgs too costly to build per test."""

import time

import pytest

from radiator_assets.tracker.emulator import Org, generate_org

BIG_ORG_ISSUES = 10_050


class Timed:
    """An org and how long generating it took."""

    def __init__(self, org: Org, seconds: float) -> None:
        self.org = org
        self.seconds = seconds


@pytest.fixture(scope="session")
def big_light_org() -> Timed:
    """10,050 issues with a light history: past the 10,000 paged cap. Read-only!"""
    started = time.perf_counter()
    org = generate_org(seed=11, n_issues=BIG_ORG_ISSUES, profile="light")
    return Timed(org, time.perf_counter() - started)


@pytest.fixture(scope="session")
def medium_org() -> Org:
    """2,000 issues with full history, for statistics over generated data. Read-only!"""
    return generate_org(seed=7, n_issues=2000)
