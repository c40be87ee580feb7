"""Deterministic generator of a realistic emulated organisation.

`generate_org(seed, n_issues)` always produces the same issues, changelogs
and links for the same arguments. Issues live in the product queue `CPO`
(the workflow of the metric spec) and the implementation queue `FULLSTACK`
(linked to CPO issues with `relates`, with sub-tasks and epics). A few
issues were moved from older queues (new key, old key in `aliases`, an
IssueMoved entry). Timestamps come with both `+0000` and `+0300` offsets.
Each issue's `status` and `updatedAt` agree with its changelog, and the walk
that produced it is kept as ground truth (see `truth.py`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from radiator_assets.emulator.catalog import (
    AUTHORS,
    BUG_TYPE,
    BUSINESS_CLIENT_FIELD,
    BUSINESS_CLIENTS,
    CANCELLED,
    CPO_DONE_STATUSES,
    CPO_OPEN,
    EPIC_LINK,
    EPIC_TYPE,
    FS_DONE,
    FS_OPEN,
    MOVED_FROM,
    PRODUCT_QUEUE,
    PRODUCT_TEAMS,
    QUEUES,
    RELATES,
    SUBTASK,
    TAGS,
    TASK_TYPE,
    TEAMS,
    Status,
    prodteam_field,
    team_field,
)
from radiator_assets.emulator.entries import (
    RESOLUTION_FIXED,
    RESOLUTION_WONT_FIX,
    created_entry,
    moved_entry,
    status_entry,
    update_entry,
)
from radiator_assets.emulator.model import (
    DEFAULT_NOW,
    IssueRecord,
    Org,
    fmt_ts,
    to_millis,
)
from radiator_assets.emulator.walks import WalkProfile, cpo_walk, fullstack_walk

RESOLVED_STATUSES = {s["key"] for s in (*CPO_DONE_STATUSES, CANCELLED, FS_DONE)}
_VERBS = ("Improve", "Add", "Fix", "Refactor", "Support", "Migrate", "Speed up", "Redesign")
_NOUNS = (
    "checkout",
    "search",
    "onboarding",
    "reports",
    "billing",
    "notifications",
    "profile page",
    "export",
    "import",
    "API limits",
    "settings",
    "dashboard",
)


@dataclass(frozen=True)
class GenProfile:
    """How much history each issue gets."""

    walk: WalkProfile = field(default_factory=WalkProfile)
    updates_mean: float = 11.0
    moved_share: float = 0.03


PROFILES: dict[str, GenProfile] = {
    # ~20 changelog entries per issue on average: the realistic default.
    "full": GenProfile(),
    # ~3 entries per issue: for tests and benchmarks that need many issues fast.
    "light": GenProfile(walk=WalkProfile(max_changes=2, p_stop=0.15), updates_mean=0.4),
}


def _summary(rng: random.Random) -> str:
    return f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)} #{rng.randint(1, 999)}"


def resolution_for(status: Status) -> dict[str, str] | None:
    if status["key"] not in RESOLVED_STATUSES:
        return None
    return RESOLUTION_WONT_FIX if status is CANCELLED else RESOLUTION_FIXED


class _IssueBuilder:
    """Turns a walk plus random edits into one issue record with its changelog."""

    def __init__(self, org: Org, rng: random.Random, queue: str, created: datetime) -> None:
        self.org = org
        self.rng = rng
        self.queue = queue
        self.created = created
        self.moscow_share = 0.8 if rng.random() < 0.35 else 0.1
        self.author = rng.choice(AUTHORS)

    def moscow(self) -> bool:
        return self.rng.random() < self.moscow_share

    def who(self) -> dict[str, str]:
        return self.author if self.rng.random() < 0.6 else self.rng.choice(AUTHORS)

    def random_change(self, state: dict[str, Any]) -> tuple[str, Any, Any]:
        """One non-status edit, applied to `state`; returns (field, from, to)."""
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            fid, new = "assignee", rng.choice(AUTHORS)
        elif r < 0.50:
            fid, new = "summary", _summary(rng)
        elif r < 0.65:
            fid, new = "tags", sorted(set(rng.sample(TAGS, rng.randint(0, 3))))
        elif r < 0.80:
            fid = "followers"
            new = [*state["followers"], rng.choice(AUTHORS)][-4:]
        elif r < 0.90:
            fid, new = team_field(self.queue), rng.choice(TEAMS)
        else:
            fid, new = "description", None if state["description"] else "Details to follow."
        old = state.get(fid)
        if old == new:
            fid, new = "summary", _summary(rng)
            old = state["summary"]
        state[fid] = new
        return fid, old, new

    def build(self, walk: list[tuple[Status, datetime]], profile: GenProfile) -> IssueRecord:
        org, rng, queue, created = self.org, self.rng, self.queue, self.created
        limit = org.now - timedelta(hours=1)
        moved = rng.random() < profile.moved_share
        old_queue = MOVED_FROM[queue] if moved else None
        old_key = org.new_key(old_queue) if old_queue else None
        key = org.new_key(queue)
        rid = org.new_id(created)
        initial = CPO_OPEN if queue == PRODUCT_QUEUE else FS_OPEN
        tfield = team_field(queue)

        state: dict[str, Any] = {
            "summary": _summary(rng),
            "description": "Details to follow." if rng.random() < 0.7 else None,
            "assignee": rng.choice(AUTHORS) if rng.random() < 0.6 else None,
            "tags": sorted(set(rng.sample(TAGS, rng.randint(0, 2)))),
            "followers": [self.author],
            tfield: rng.choice(TEAMS),
        }
        last_change = walk[-1][1] if walk else min(limit, created + timedelta(days=3))
        span = last_change - created
        n_updates = int(rng.random() * 2 * profile.updates_mean + 0.5)
        events: list[tuple[datetime, int, Any]] = [(t, 1, s) for s, t in walk]
        events += [
            (to_millis(created + span * rng.uniform(0.001, 0.999)), 2, None)
            for _ in range(n_updates)
        ]
        if moved:
            move_at = to_millis(created + (limit - created) * rng.uniform(0.02, 0.6))
            events.append((move_at, 0, "move"))
        events.sort(key=lambda e: (e[0], e[1]))

        issue_ref = {"id": rid, "key": key, "display": ""}
        record = IssueRecord(
            id=rid, key=key, queue=queue, data={}, created_at=created, updated_at=created
        )
        record.append_entry(
            created_entry(org.new_id(created), issue_ref, created, self.moscow(), self.author)
        )
        record.walk.append((initial, created))
        status, status_start = initial, created
        previous: Status | None = None
        updater = self.author
        current_queue = old_queue or queue
        for when, kind, payload in events:
            updater = self.who()
            entry_id = org.new_id(when)
            if kind == 1:
                was = resolution_for(status) is not None
                new_status: Status = payload
                workflow = rng.random() >= 0.05
                entry = status_entry(
                    entry_id,
                    issue_ref,
                    when,
                    self.moscow(),
                    updater,
                    status,
                    new_status,
                    status_start,
                    workflow=workflow,
                    resolved=resolution_for(new_status) is not None,
                    was_resolved=was,
                )
                previous, status, status_start = status, new_status, when
                record.walk.append((new_status, when))
            elif kind == 2:
                change = self.random_change(state)
                entry = update_entry(entry_id, issue_ref, when, self.moscow(), updater, [change])
            else:
                assert old_key is not None and old_queue is not None
                entry = moved_entry(
                    entry_id,
                    issue_ref,
                    when,
                    self.moscow(),
                    updater,
                    old_key,
                    key,
                    QUEUES[old_queue],
                    QUEUES[queue],
                )
                current_queue = queue
            record.append_entry(entry)
            record.updated_at = when
        assert current_queue == queue
        issue_ref["display"] = state["summary"]

        data: dict[str, Any] = {
            "id": rid,
            "key": key,
            "version": len(record.changelog),
            "summary": state["summary"],
            "description": state["description"],
            "queue": QUEUES[queue],
            "type": self._type(),
            "status": status,
            "statusStartTime": fmt_ts(status_start, self.moscow()),
            "createdAt": fmt_ts(created, self.moscow()),
            "updatedAt": fmt_ts(record.updated_at, self.moscow()),
            "createdBy": self.author,
            "updatedBy": updater,
            "assignee": state["assignee"],
            "followers": state["followers"],
            "tags": state["tags"],
        }
        if old_key:
            data["aliases"] = [old_key]
        if previous is not None:
            data["previousStatus"] = previous
        resolution = resolution_for(status)
        if resolution:
            data["resolution"] = resolution
        # Custom fields: usually set, sometimes null, sometimes absent.
        r = rng.random()
        if r < 0.9:
            data[tfield] = state[tfield]
        elif r < 0.95:
            data[tfield] = None
        if queue == PRODUCT_QUEUE:
            data[prodteam_field(queue)] = rng.choice(PRODUCT_TEAMS)
            if rng.random() < 0.3:
                data[BUSINESS_CLIENT_FIELD] = rng.choice(BUSINESS_CLIENTS)
        record.data = data
        return record

    def _type(self) -> dict[str, str]:
        if self.queue == PRODUCT_QUEUE:
            return TASK_TYPE
        r = self.rng.random()
        return EPIC_TYPE if r < 0.04 else BUG_TYPE if r < 0.25 else TASK_TYPE


def _ref(record: IssueRecord) -> dict[str, str]:
    return {"id": record.id, "key": record.key, "display": record.data["summary"]}


def add_link(
    org: Org,
    a: IssueRecord,
    b: IssueRecord,
    link_type: dict[str, str],
    when: datetime,
) -> None:
    """Link `a` (outward) to `b` (inward) on both issues, like Tracker shows it."""
    a.links = [
        *a.links,
        {
            "id": str(org.next_seq()),
            "type": link_type,
            "direction": "outward",
            "object": _ref(b),
            "createdAt": fmt_ts(when),
        },
    ]
    b.links = [
        *b.links,
        {
            "id": str(org.next_seq()),
            "type": link_type,
            "direction": "inward",
            "object": _ref(a),
            "createdAt": fmt_ts(when),
        },
    ]


def _link(org: Org, rng: random.Random) -> None:
    """Relates links FULLSTACK <-> CPO, sub-tasks (parent) up to depth 5, epics.

    Records are visited in creation order and only link to issues created
    before them, mostly recent ones, so links spread evenly over the org.
    """
    product: list[IssueRecord] = []  # CPO issues created so far
    epics: list[IssueRecord] = []
    tasks: list[IssueRecord] = []  # possible parents
    depth: dict[str, int] = {}
    for record in org.records.values():
        if record.queue == PRODUCT_QUEUE:
            product.append(record)
            continue
        when = record.created_at
        if record.data["type"] is EPIC_TYPE:
            epics.append(record)
            continue
        if product and rng.random() < 0.7:
            target = rng.choice(product[-100:] if rng.random() < 0.8 else product)
            if rng.random() < 0.5:
                add_link(org, record, target, RELATES, when)
            else:
                add_link(org, target, record, RELATES, when)
        if tasks and rng.random() < 0.25:
            parent = rng.choice(tasks[-200:])
            record.data["parent"] = _ref(parent)
            depth[record.id] = depth[parent.id] + 1
            add_link(org, parent, record, SUBTASK, when)
        else:
            depth[record.id] = 0
        if epics and rng.random() < 0.3:
            epic = rng.choice(epics[-20:])
            record.data["epic"] = _ref(epic)
            add_link(org, epic, record, EPIC_LINK, when)
        if depth[record.id] < 5:
            tasks.append(record)  # may still become a parent: depth stays <= 5


def generate_org(
    seed: int = 7,
    n_issues: int = 2000,
    *,
    profile: str | GenProfile = "full",
    now: datetime = DEFAULT_NOW,
    product_share: float = 0.4,
    span_days: float = 720.0,
) -> Org:
    """A deterministic organisation of `n_issues` issues created over `span_days`
    before `now` (the emulator's clock starts at `now`)."""
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    rng = random.Random(seed)
    org = Org(now=now, seed=seed)
    limit = now - timedelta(hours=1)
    specs = sorted(
        (to_millis(now - timedelta(seconds=rng.uniform(7200, span_days * 86400))), rng.random())
        for _ in range(n_issues)
    )
    for created, draw in specs:
        queue = PRODUCT_QUEUE if draw < product_share else "FULLSTACK"
        builder = _IssueBuilder(org, rng, queue, created)
        walk_fn = cpo_walk if queue == PRODUCT_QUEUE else fullstack_walk
        walk = walk_fn(rng, created, limit, prof.walk)
        org.add(builder.build(walk, prof))
    _link(org, rng)
    return org
