"""Client tests: the shared emulator fixtures plus an org too costly to build per test."""

import pytest

from radiator_assets.emulator import Org, generate_org

BIG_ORG_ISSUES = 10_050


@pytest.fixture(scope="session")
def big_light_org() -> Org:
    """10,050 issues with a light history: past the 10,000 paged cap. Read-only!

    How fast it is generated is measured by `benchmarks/bench_emulator.py`, not here."""
    return generate_org(seed=11, n_issues=BIG_ORG_ISSUES, profile="light")
