"""The configuration's status, team and lead look-ups: memoised, yet equal to a
straightforward reference, and the engine gives the same results with either."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radiator_assets.metrics import config as config_module
from radiator_assets.metrics.config import (
    UNKNOWN_STATUS_BLOCK,
    MetricsConfig,
    Roles,
    StatusConfig,
    normalize_status,
    parse_metrics_config,
)
from radiator_assets.metrics.engine import compute_task_metrics
from radiator_assets.metrics.stays import Stay, stays_from_transitions


class ReferenceConfig(MetricsConfig):
    """The look-ups written out from their documentation: every question scans the
    configuration again, nothing is indexed or remembered."""

    def _position(self, name: str | None) -> int | None:
        token = normalize_status(name)
        # a display name wins over another status's key
        for index, status in enumerate(self.statuses):
            if normalize_status(status.name) == token:
                return index
        for index, status in enumerate(self.statuses):
            if status.key and normalize_status(status.key) == token:
                return index
        return None

    def status(self, name: str | None) -> StatusConfig | None:
        index = self._position(name)
        return None if index is None else self.statuses[index]

    def is_known(self, status: str | None) -> bool:
        return self._position(status) is not None

    def block_of(self, status: str | None) -> str:
        found = self.status(status)
        return UNKNOWN_STATUS_BLOCK if found is None else found.block

    def block(self, status: str | None) -> str:
        return "pause" if self.is_pause(status) else self.block_of(status)

    def unknown_statuses(self, statuses: Iterable[str | None]) -> list[str]:
        out: list[str] = []
        tokens: list[str] = []
        for status in statuses:
            token = normalize_status(status)
            if token and not self.is_known(status) and token not in tokens:
                tokens.append(token)
                out.append(status)  # type: ignore[arg-type]
        return out

    def same_status(self, status: str | None, other: str | None) -> bool:
        if normalize_status(status) == normalize_status(other):
            return True
        a, b = self._position(status), self._position(other)
        return a is not None and a == b

    def is_pause(self, status: str | None) -> bool:
        return self.block_of(status) == "pause" or self.same_status(status, self.roles.pause)

    def is_done(self, status: str | None) -> bool:
        return self.block_of(status) == "done"

    def is_cancelled(self, status: str | None) -> bool:
        return self.block_of(status) == "cancelled"

    def statuses_after(self, status: str | None) -> tuple[StatusConfig, ...]:
        index = self._position(status)
        if index is None:
            return ()
        return tuple(s for s in self.statuses[index + 1 :] if s.block != "cancelled")

    def team_of(self, author: str | None) -> str:
        name = (author or "").strip()
        matches = [t for a, t in self.teams.authors.items() if a == name]
        matches += [t for a, t in self.teams.authors.items() if a.casefold() == name.casefold()]
        team = matches[0].strip() if matches else ""
        return team or self.teams.no_team

    def lead_of(self, team: str | None) -> str:
        name = (team or "").strip()
        matches = [v for t, v in self.teams.leads.items() if t == name]
        matches += [v for t, v in self.teams.leads.items() if t.casefold() == name.casefold()]
        lead = matches[0].strip() if matches else ""
        return lead or self.teams.no_team


def reference(config: MetricsConfig) -> ReferenceConfig:
    fields = {name: getattr(config, name) for name in MetricsConfig.model_fields}
    return ReferenceConfig.model_construct(_fields_set=config.model_fields_set, **fields)


# A configuration with the awkward cases: a display name equal to another status's
# key, a pause role whose block is not `pause`, roles given by key in another case,
# authors and teams that match only case-insensitively, empty team and lead.
TRICKY = parse_metrics_config(
    """
statuses:
  - {name: "Open", key: new, block: backlog}
  - {name: "New", block: backlog}
  - {name: "Discovery backlog", key: discoveryBacklog, block: discovery}
  - {name: "Ready", key: readyForDevelopment, block: delivery}
  - {name: "Dev", key: inProgress, block: delivery}
  - {name: "On hold", key: onHold, block: delivery}
  - {name: "External test", key: ext, block: delivery}
  - {name: "Testing", block: delivery}
  - {name: "Frozen", block: pause}
  - {name: "Done", key: closed, block: done}
  - {name: "Cancelled", block: cancelled}
  - {name: "Released", block: done}
roles:
  pause: ONHOLD
  ready_for_development: readyfordevelopment
  in_development: " dev "
  external_test: EXT
  discovery_backlog: discoveryBacklog
  testing_returns: [testing, "External Test"]
teams:
  authors: {"Ann": "Team A", "bob": " Team B ", "Eve": ""}
  leads: {"team a": "Lead A", "Team B": "  "}
min_stay_seconds: 600
"""
)
CONFIGS = {"default": MetricsConfig.default(), "tricky": TRICKY}

NAMES = [
    *(s.name for config in CONFIGS.values() for s in config.statuses),
    *(s.key for config in CONFIGS.values() for s in config.statuses if s.key),
    "OPEN",
    " new ",
    "NEW",
    "onhold",
    "On Hold",
    "frozen",
    "  ПРИОСТАНОВЛЕНО ",
    "closed",
    "Unknown",
    "unknown ",
    "Weird status",
]
QUESTIONS = (
    "status",
    "is_known",
    "block_of",
    "block",
    "is_pause",
    "is_done",
    "is_cancelled",
    "statuses_after",
)
START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(params=sorted(CONFIGS))
def config(request) -> MetricsConfig:
    # a copy: every test starts from empty look-up caches
    return CONFIGS[request.param].model_copy()


@pytest.mark.parametrize("question", QUESTIONS)
def test_each_status_look_up_matches_the_reference(config, question):
    ref = reference(config)
    for name in [*NAMES, None, "", "   "]:
        for _ in range(2):  # the second time from the memo
            assert getattr(config, question)(name) == getattr(ref, question)(name), name


def test_same_status_matches_the_reference_for_every_pair(config):
    ref = reference(config)
    names = [*NAMES, None, ""]
    for _ in range(2):
        for a in names:
            for b in names:
                assert config.same_status(a, b) == ref.same_status(a, b), (a, b)


def test_unknown_statuses_match_the_reference(config):
    ref = reference(config)
    seen = [*NAMES, *reversed(NAMES), None, "", "UNKNOWN"]
    assert config.unknown_statuses(seen) == ref.unknown_statuses(seen)
    assert config.unknown_statuses(iter(seen)) == ref.unknown_statuses(seen)


@pytest.mark.parametrize("question", ["team_of", "lead_of"])
def test_team_and_lead_look_ups_match_the_reference(config, question):
    ref = reference(config)
    names = ["Ann", "ann", " ANN ", "bob", "Bob", "Eve", "Nobody", "", None]
    names += ["Team A", "team a", "TEAM B", "Team Alpha", "team alpha"]
    names += list(config.teams.authors) + list(config.teams.leads)
    for name in names:
        for _ in range(2):
            assert getattr(config, question)(name) == getattr(ref, question)(name), name


def test_block_is_pause_for_any_pause_stay():
    assert [TRICKY.block(s) for s in ("On hold", "onHold", "FROZEN", "Dev", "Unknown")] == [
        "pause",
        "pause",
        "pause",
        "delivery",
        UNKNOWN_STATUS_BLOCK,
    ]
    assert TRICKY.block_of("On hold") == "delivery"


# ---------------------------------------------------------------- the engine


HISTORIES = [
    [
        Stay("Открыт", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 3, tzinfo=UTC)),
        Stay("Приостановлено", datetime(2025, 1, 3, tzinfo=UTC), datetime(2025, 1, 9, tzinfo=UTC)),
        Stay("МП / В работе", datetime(2025, 1, 9, tzinfo=UTC), datetime(2025, 1, 20, tzinfo=UTC)),
        Stay("МП / Внешний тест", datetime(2025, 1, 20, tzinfo=UTC), None),
    ],
    [
        Stay("open", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)),
        Stay("Unknown", datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 5, tzinfo=UTC)),
        Stay("closed", datetime(2025, 1, 5, tzinfo=UTC), None),
    ],
    [
        Stay("new", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 4, tzinfo=UTC)),
        Stay("Ready", datetime(2025, 1, 4, tzinfo=UTC), datetime(2025, 1, 6, tzinfo=UTC)),
        Stay("inprogress", datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 12, tzinfo=UTC)),
        Stay("On hold", datetime(2025, 1, 12, tzinfo=UTC), datetime(2025, 1, 19, tzinfo=UTC)),
        Stay("Dev", datetime(2025, 1, 19, tzinfo=UTC), datetime(2025, 1, 25, tzinfo=UTC)),
        Stay("Testing", datetime(2025, 1, 25, tzinfo=UTC), datetime(2025, 1, 27, tzinfo=UTC)),
        Stay("Released", datetime(2025, 1, 27, tzinfo=UTC), None),
    ],
]


@pytest.mark.parametrize("stays", HISTORIES)
def test_the_engine_gives_the_reference_results(config, stays):
    as_of = datetime(2025, 3, 1, tzinfo=UTC)
    created = stays[0].start
    expected = compute_task_metrics(stays, created=created, config=reference(config), as_of=as_of)
    for _ in range(2):  # the second time from the memos
        assert compute_task_metrics(stays, created=created, config=config, as_of=as_of) == expected


@st.composite
def tasks(draw) -> tuple[list[Stay], datetime]:
    first = draw(st.sampled_from(NAMES))
    gaps = st.one_of(st.integers(0, 900), st.integers(900, 30 * 86400))
    steps = draw(st.lists(st.tuples(gaps, st.sampled_from(NAMES)), max_size=20))
    moment, changes = START, []
    for gap, status in steps:
        moment += timedelta(seconds=gap)
        changes.append((moment, status))
    stays = stays_from_transitions(START, first, changes)
    as_of = START + timedelta(seconds=draw(st.integers(0, 400 * 86400)))
    return stays, as_of


@settings(max_examples=200, deadline=None)
@given(task=tasks(), which=st.sampled_from(sorted(CONFIGS)))
def test_the_engine_gives_the_reference_results_on_generated_histories(task, which):
    stays, as_of = task
    config = CONFIGS[which]
    expected = compute_task_metrics(stays, created=START, config=reference(config), as_of=as_of)
    assert compute_task_metrics(stays, created=START, config=config, as_of=as_of) == expected


def test_the_engine_asks_for_no_normalisation_once_the_answers_are_known(monkeypatch):
    config = TRICKY.model_copy()
    stays, as_of = HISTORIES[2], datetime(2025, 3, 1, tzinfo=UTC)
    first = compute_task_metrics(stays, created=START, config=config, as_of=as_of)
    calls: list[str | None] = []

    def counting(name: str | None) -> str:
        calls.append(name)
        return normalize_status(name)

    monkeypatch.setattr(config_module, "normalize_status", counting)
    assert compute_task_metrics(stays, created=START, config=config, as_of=as_of) == first
    assert calls == []


# ---------------------------------------------------------------- copies and limits


def test_copies_answer_from_their_own_fields():
    config = MetricsConfig.default().model_copy()
    assert (config.block_of("Open"), config.is_pause("Open"), config.team_of("Ann")) == (
        "backlog",
        False,
        config.teams.no_team,
    )

    statuses = config.model_copy(update={"statuses": (StatusConfig(name="Open", block="done"),)})
    roles = config.model_copy(update={"roles": Roles(pause="open")})
    teams = config.model_copy(
        update={"teams": config.teams.model_copy(update={"authors": {"ann": "Team Ann"}})}
    )
    deep = config.model_copy(
        update={"statuses": (StatusConfig(name="Open", block="cancelled"),)}, deep=True
    )

    assert (statuses.block_of("Open"), statuses.is_done("open"), statuses.is_known("Done")) == (
        "done",
        True,
        False,
    )
    assert (roles.is_pause("Open"), roles.block("OPEN")) == (True, "pause")
    assert teams.team_of("Ann") == "Team Ann"
    assert deep.is_cancelled("Open")
    # the original still answers from its own fields
    assert (config.block_of("Open"), config.is_pause("Open"), config.team_of("Ann")) == (
        "backlog",
        False,
        config.teams.no_team,
    )


def test_deep_copies_and_pickles_leave_the_caches_behind():
    config = TRICKY.model_copy()
    config.is_pause("On hold")
    for other in (copy.deepcopy(config), pickle.loads(pickle.dumps(config))):
        assert other.__pydantic_private__ == {"_lookups": None}
        assert other == config
        assert (other.is_pause("On hold"), other.block_of("closed")) == (True, "done")


def test_a_flood_of_distinct_names_keeps_the_memos_small(monkeypatch):
    monkeypatch.setattr(config_module, "MEMO_LIMIT", 5)
    config = TRICKY.model_copy()
    ref = reference(config)
    names = [f"status {i}" for i in range(20)] + NAMES
    for name in names:
        assert config.block(name) == ref.block(name)
        assert config.same_status(name, "onhold") == ref.same_status(name, "onhold")
    lookups = config.__pydantic_private__["_lookups"]
    assert max(len(lookups.block), len(lookups.same_status), len(lookups.status)) <= 5
