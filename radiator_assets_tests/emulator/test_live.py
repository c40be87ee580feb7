"""The living organisation (`Churn`): what its steps change, deterministically, safely."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from radiator_assets.emulator import Org, TrackerEmulator, generate_org
from radiator_assets.emulator.catalog import CPO_OPEN, FS_OPEN
from radiator_assets.emulator.generator import RESOLVED_STATUSES
from radiator_assets.emulator.live import Churn, ChurnStep
from radiator_assets.emulator.mutations import next_status
from radiator_assets.tracker.errors import IssueGone
from radiator_assets.tracker.query import parse_tracker_datetime

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STEPS = 10


class FakeClock:
    """Real time as the test says it is."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _org(seed: int = 7) -> Org:
    return generate_org(seed=seed, n_issues=60, now=START, span_days=120)


def _snapshot(org: Org) -> str:
    return json.dumps(
        [(r.data, r.changelog, r.deleted) for r in org.records.values()],
        sort_keys=True,
        ensure_ascii=False,
    )


def _run(org: Org, seed: int, steps: int = STEPS) -> list[ChurnStep]:
    """`steps` steps, real time moving a minute between them."""
    clock = FakeClock(START)
    churn = Churn(org, seconds=60, seed=seed, clock=clock)
    taken = []
    for _ in range(steps):
        clock.now += timedelta(minutes=1)
        taken.append(churn.step())
    return taken


def test_a_step_moves_issues_one_status_along_their_workflow_at_real_time():
    org = _org()
    clock = FakeClock(START + timedelta(minutes=5))
    churn = Churn(org, seconds=60, seed=1, moves=3, clock=clock)
    live = {r.key: r for r in org.live()}
    expected = {key: next_status(live[key])["display"] for key in live}
    entries_before = {key: len(r.changelog) for key, r in live.items()}

    step = churn.step()

    assert len(step.moved) == 3
    for key, status in step.moved:
        record = org.resolve(key)
        assert status == expected[key] == record.data["status"]["display"]
        assert len(record.changelog) == entries_before[key] + 1
        (change,) = [f for f in record.changelog[-1]["fields"] if f["field"]["id"] == "status"]
        assert change["to"]["display"] == status
        # stamped at real time (one second per change, so ids and times stay distinct)
        assert parse_tracker_datetime(record.data["updatedAt"]) >= clock.now
    # issues of open work move (the organisation finishes things instead of reopening them)
    assert all(live[key].walk[-2][0]["key"] not in RESOLVED_STATUSES for key, _ in step.moved)


def test_after_ten_steps_issues_moved_appeared_and_went():
    org = _org()
    keys_before = {r.key for r in org.live()}
    steps = _run(org, seed=3)

    assert [s.number for s in steps] == list(range(1, STEPS + 1))
    assert all(len(s.moved) == 3 for s in steps)
    created = [s.created for s in steps if s.created]
    deleted = [s.deleted for s in steps if s.deleted]
    assert [s.number for s in steps if s.created] == [2, 4, 6, 8, 10]
    assert [s.number for s in steps if s.deleted] == [5, 10]
    assert len(created) == 5 and not set(created) & keys_before
    assert len(deleted) == 2
    live_keys = {r.key for r in org.live()}
    assert live_keys == (keys_before | set(created)) - set(deleted)
    for key in set(created) - set(deleted):
        record = org.resolve(key)
        assert record.changelog[0]["type"] == "IssueCreated"
        assert record.walk[0][0] in (CPO_OPEN, FS_OPEN)
    assert all(org.resolve(key) is None for key in deleted)


def test_the_clock_follows_real_time_and_never_goes_back():
    org = _org()
    assert org.now == START
    clock = FakeClock(START + timedelta(hours=2, microseconds=250_000))
    churn = Churn(org, seconds=60, seed=1, moves=2, create_every=1, clock=clock)

    assert churn.catch_up_clock() == START + timedelta(hours=2)  # whole seconds
    first = churn.step()
    # three changes of one second each, from real time on
    assert first.now == START + timedelta(hours=2, seconds=3) == org.now

    clock.now = START  # real time behind the emulated clock (or a clock set back)
    assert churn.catch_up_clock() == first.now
    second = churn.step()
    assert second.now == first.now + timedelta(seconds=3)

    clock.now = START + timedelta(days=1)
    third = churn.step()
    assert third.now == START + timedelta(days=1, seconds=3)
    assert first.now < second.now < third.now


def test_the_same_seed_gives_the_same_steps_and_another_seed_other_ones():
    org_a, org_b, org_c = _org(), _org(), _org()
    steps_a, steps_b, steps_c = _run(org_a, seed=11), _run(org_b, seed=11), _run(org_c, seed=12)

    assert steps_a == steps_b
    assert _snapshot(org_a) == _snapshot(org_b)
    assert [s.moved for s in steps_a] != [s.moved for s in steps_c]


def test_describe_names_what_a_step_did():
    step = ChurnStep(4, START, (("CPO-3", "Готово к релизу"),), "FULLSTACK-61", "CPO-9")
    assert step.describe() == (
        "[12:00:00 UTC] step 4: CPO-3 -> Готово к релизу; created FULLSTACK-61; deleted CPO-9"
    )


@pytest.mark.parametrize(
    "kwargs", [{"seconds": 0}, {"seconds": 1, "moves": -1}, {"seconds": 1, "delete_every": 0}]
)
def test_nonsense_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Churn(_org(), **kwargs)


@pytest.fixture
def churning(tracker_emulator_factory) -> Iterator[tuple[Churn, TrackerEmulator, threading.Event]]:
    """A churn stepping every 10 ms beside a serving emulator (stopped after the test), and
    an event set at its third step."""
    org = generate_org(seed=5, n_issues=60, now=START)
    emulator = tracker_emulator_factory(org)
    three_steps = threading.Event()

    def seen(step: ChurnStep) -> None:
        if step.number >= 3:
            three_steps.set()

    churn = Churn(emulator.org, seconds=0.01, seed=5, clock=FakeClock(START), on_step=seen)
    with churn:
        yield churn, emulator, three_steps
    assert not churn.errors


def test_the_thread_steps_until_stopped_and_stop_joins_it(churning, tracker_client_factory):
    churn, emulator, three_steps = churning
    client = tracker_client_factory(emulator)
    # While it steps, every listing is a consistent snapshot the client reads whole.
    deadline = time.monotonic() + 60  # a bound on the wait, not a speed requirement
    while not three_steps.is_set() and time.monotonic() < deadline:
        listed = list(client.search("Queue: CPO, FULLSTACK"))
        assert len({issue["id"] for issue in listed}) == len(listed) > 0
    churn.stop()
    taken = churn.steps
    assert taken >= 3
    assert not any(t.name == "emulator-churn" and t.is_alive() for t in threading.enumerate())
    assert churn.steps == taken  # nothing steps after stop()
    churn.stop()  # a second stop is harmless


def test_a_deleted_issue_is_gone_from_the_api(tracker_emulator_factory, tracker_client_factory):
    org = _org()
    emulator = tracker_emulator_factory(org)
    client = tracker_client_factory(emulator)
    (step,) = [s for s in _run(org, seed=3, steps=5) if s.deleted]
    with pytest.raises(IssueGone):
        client.get_issue(step.deleted)
    listed = {issue["key"] for issue in client.search("Queue: CPO, FULLSTACK")}
    assert step.deleted not in listed
    assert {key for key, _ in step.moved} <= listed
