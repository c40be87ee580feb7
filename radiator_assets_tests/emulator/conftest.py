"""Emulator tests: the shared emulator fixtures plus an org too costly to build per test."""

import pytest

from radiator_assets.emulator import Org, generate_org


@pytest.fixture(scope="session")
def medium_org() -> Org:
    """2,000 issues with full history, for statistics over generated data. Read-only!"""
    return generate_org(seed=7, n_issues=2000)
