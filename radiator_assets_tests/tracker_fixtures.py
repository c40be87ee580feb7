"""Pytest fixtures: a running Tracker emulator and clients pointed at it.

Load with `pytest_plugins = ["radiator_assets_tests.tracker_fixtures"]`.

* `tracker_org`              a small generated org (60 issues, seed 7), fresh per test
* `tracker_emulator`         an emulator serving `tracker_org`, stopped after the test
* `tracker_emulator_factory` `start(org=None, *, n_issues=60, seed=7, profile="full",
                             **TrackerEmulator kwargs) -> TrackerEmulator`, all stopped after
* `tracker_client_factory`   `make(emulator, **TrackerClient overrides) -> TrackerClient`
                             with test-friendly defaults (fast backoff, 5 s retry budget)
* `tracker_client`           a client for `tracker_emulator`
* `tracker_settings`         a `Settings` pointing at `tracker_emulator` (no .env read)

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from radiator_assets.emulator import Org, TrackerEmulator, generate_org
from radiator_assets.settings import Settings
from radiator_assets.tracker.client import TrackerClient

# Distinctive so that leak tests can search logs and messages for it.
EMULATOR_TOKEN = "tok-3f9c2e71-emulator-secret"
EMULATOR_ORG_ID = "7000001"

EmulatorFactory = Callable[..., TrackerEmulator]
ClientFactory = Callable[..., TrackerClient]


def client_kwargs(emulator: TrackerEmulator) -> dict[str, Any]:
    """Constructor arguments for a client talking to `emulator`, tuned for fast tests."""
    org_kw = "cloud_org_id" if emulator.org_header == "X-Cloud-Org-ID" else "org_id"
    return {
        "base_url": emulator.base_url,
        "token": emulator.token,
        org_kw: emulator.org_id,
        "requests_per_second": 10_000.0,
        "rate_burst": 100.0,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "max_retry_seconds": 5.0,
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
        "trust_env": False,
    }


@pytest.fixture
def tracker_org() -> Org:
    return generate_org(seed=7, n_issues=60)


@pytest.fixture
def tracker_emulator_factory() -> Iterator[EmulatorFactory]:
    started: list[TrackerEmulator] = []

    def start(
        org: Org | None = None,
        *,
        n_issues: int = 60,
        seed: int = 7,
        profile: str = "full",
        **kwargs: Any,
    ) -> TrackerEmulator:
        kwargs.setdefault("token", EMULATOR_TOKEN)
        kwargs.setdefault("org_id", EMULATOR_ORG_ID)
        if org is None:
            org = generate_org(seed=seed, n_issues=n_issues, profile=profile)
        emulator = TrackerEmulator(org, **kwargs).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()
    # An exception inside the emulator is a bug in the test double, never a pass.
    errors = [e for emulator in started for e in emulator.errors]
    assert not errors, f"the Tracker emulator failed while serving: {errors!r}"


@pytest.fixture
def tracker_emulator(
    tracker_emulator_factory: EmulatorFactory, tracker_org: Org
) -> TrackerEmulator:
    return tracker_emulator_factory(tracker_org)


@pytest.fixture
def tracker_client_factory() -> Iterator[ClientFactory]:
    clients: list[TrackerClient] = []

    def make(emulator: TrackerEmulator, **overrides: Any) -> TrackerClient:
        kwargs = client_kwargs(emulator)
        if "cloud_org_id" in overrides:
            kwargs.pop("org_id", None)
        if "org_id" in overrides:
            kwargs.pop("cloud_org_id", None)
        kwargs.update(overrides)
        client = TrackerClient(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def tracker_client(
    tracker_client_factory: ClientFactory, tracker_emulator: TrackerEmulator
) -> TrackerClient:
    return tracker_client_factory(tracker_emulator)


@pytest.fixture
def tracker_settings(tracker_emulator: TrackerEmulator) -> Settings:
    cloud = tracker_emulator.org_header == "X-Cloud-Org-ID"
    org_vars = {
        "TRACKER_ORG_ID": None if cloud else tracker_emulator.org_id,
        "TRACKER_CLOUD_ORG_ID": tracker_emulator.org_id if cloud else None,
    }
    return Settings(
        _env_file=None,
        TRACKER_API_URL=tracker_emulator.base_url,
        TRACKER_TOKEN=tracker_emulator.token,
        TRACKER_RPS=1000.0,
        TRACKER_READ_TIMEOUT=5.0,
        TRACKER_MAX_RETRY_SECONDS=5.0,
        TRACKER_FIELDS="",
        **org_vars,
    )
