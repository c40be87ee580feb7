"""An emulated organisation, synced over HTTP by the real write path: the report tables
match what the metrics engine says about each task, computed here task by task."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from radiator_assets.emulator import TrackerEmulator, generate_org
from radiator_assets.metrics import engine as metrics_engine
from radiator_assets.metrics.config import CustomFields, MetricsConfig
from radiator_assets.metrics.engine import (
    compute_task_metrics,
    linked_implementation_tasks,
    sum_testing_returns,
    time_in_status,
)
from radiator_assets.metrics.stays import Stay, clip_to_as_of, filter_short_stays
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.loading import snapshot, stream_tasks
from radiator_assets.reports.returns import WORKFLOW_COLUMNS, task_workflow_returns
from radiator_assets.reports.time_in_status import COLUMNS as TIS_COLUMNS
from radiator_assets.reports.time_in_status import build_time_in_status, task_rows
from radiator_assets.sync.changelog import sync_changelogs
from radiator_assets.sync.history import build_history
from radiator_assets.sync.issues import sync_issues
from radiator_assets.tracker.client import TrackerClient
from radiator_assets_tests.locked import locked
from radiator_assets_tests.reports.conftest import build_all
from radiator_assets_tests.tracker_fixtures import EMULATOR_ORG_ID, EMULATOR_TOKEN, client_kwargs

AS_OF = datetime(2025, 3, 15, 12, tzinfo=UTC)  # inside the org's history: clipping matters


@pytest.fixture(scope="module")
def org_config() -> MetricsConfig:
    # the emulator's authors are Author 1..40; map a few more to teams
    config = MetricsConfig.default()
    authors = {f"Author {i}": f"Team {'ABCD'[i % 4]}" for i in range(1, 41, 3)}
    teams = config.teams.model_copy(update={"authors": authors, "leads": {"Team A": "Lead A"}})
    return config.model_copy(update={"teams": teams})


@pytest.fixture(scope="module")
def synced(module_database, org_config: MetricsConfig) -> Engine:
    """A 400-issue emulated org synced over HTTP, every report built as of AS_OF."""
    engine = module_database()
    org = generate_org(seed=11, n_issues=400)
    emulator = TrackerEmulator(org, token=EMULATOR_TOKEN, org_id=EMULATOR_ORG_ID).start()
    try:
        with TrackerClient(**client_kwargs(emulator)) as client:
            locked(
                sync_issues,
                engine,
                client,
                base_query="Queue: CPO OR Queue: FULLSTACK",
                fields=CustomFields(),
                mode="full",
            )
            locked(sync_changelogs, engine, client)
    finally:
        emulator.stop()
    assert not emulator.errors
    locked(build_history, engine)
    build_all(engine, org_config, AS_OF)
    return engine


def load(engine: Engine):
    """Every live task with its stays, read the plain way (one query per table)."""
    with engine.connect() as conn:
        tasks = {
            r.id: r
            for r in conn.execute(
                sa.text(
                    "SELECT id, key, queue, author, created_at, links, parent_key "
                    "FROM tracker_tasks WHERE deleted_at IS NULL"
                )
            )
        }
        stays: dict[int, list[Stay]] = defaultdict(list)
        for r in conn.execute(
            sa.text("SELECT task_id, status, start_date, end_date FROM tracker_task_history")
        ):
            if r.task_id in tasks:
                stays[r.task_id].append(Stay(r.status, r.start_date, r.end_date))
    return tasks, stays


def expected_details(engine: Engine, config: MetricsConfig) -> dict[str, dict]:
    tasks, stays = load(engine)
    by_key = {t.key: t for t in tasks.values()}
    relates = [
        (t.key, link["object"]["key"])
        for t in tasks.values()
        for link in t.links
        if link["type"]["id"] == "relates"
    ]
    children: dict[str, list[str]] = defaultdict(list)
    for t in tasks.values():
        if t.parent_key:
            children[t.parent_key].append(t.key)
    out: dict[str, dict] = {}
    for task in tasks.values():
        if task.queue != config.queues.product or task.created_at > AS_OF:
            continue
        m = compute_task_metrics(
            stays[task.id], created=task.created_at, config=config, as_of=AS_OF
        )
        filtered = filter_short_stays(clip_to_as_of(stays[task.id], AS_OF), config.min_stay_seconds)
        # spec "Rows of the details report": entered ready-for-development by as_of
        past_discovery = any(
            config.same_status(s.status, config.roles.ready_for_development) for s in filtered
        )
        if m.cancelled or not ((m.finished and m.period) or (not m.finished and past_discovery)):
            continue
        linked = linked_implementation_tasks(
            task.key,
            relates=relates,
            children=children,
            queue_of=lambda k: by_key[k].queue if k in by_key else None,
            implementation_queue=config.queues.implementation,
        )
        returns = sum_testing_returns(
            metrics_engine.testing_returns_for(stays[by_key[k].id], config, AS_OF) for k in linked
        )
        roles = config.roles.testing_returns
        team = config.team_of(task.author)
        out[task.key] = {
            "team": team,
            "lead": config.lead_of(team),
            "period": m.period,
            "ttd_period": m.ttd_period,
            "ttm": m.ttm if m.finished else m.ttm_unfinished,
            "pause": m.pause,
            "tail": m.tail,
            "devlt": m.devlt,
            "ttd": m.ttd,
            "ttd_pause": m.ttd_pause,
            "discovery_backlog_days": m.discovery_backlog_days,
            "ready_for_dev_days": m.ready_for_dev_days,
            "returns_testing": returns.get(roles[0], 0),
            "returns_external_test": returns.get(roles[1], 0),
            "returns_total": sum(returns.values()),
            "work_started": m.work_started,
            "completed": m.completed,
            "went_through_development": m.went_through_development,
            "finished": m.finished,
            "current_status": m.current_status,
            "status_block": m.status_block,
        }
    return out


def test_details_match_the_engine_task_by_task(synced: Engine, org_config: MetricsConfig):
    expected = expected_details(synced, org_config)
    with synced.connect() as conn:
        got = {
            r["task_key"]: {k: r[k] for k in next(iter(expected.values()))}
            for r in conn.execute(sa.text("SELECT * FROM report_ttm_details")).mappings()
        }
    assert len(expected) >= 30  # 30 rows in this organisation as of AS_OF
    assert any(v["returns_total"] for v in expected.values())
    assert any(v["finished"] for v in expected.values())
    assert any(not v["finished"] for v in expected.values())
    assert got == expected


def test_time_in_status_matches_the_engine_task_by_task(synced: Engine, org_config: MetricsConfig):
    tasks, stays = load(synced)
    expected: dict[tuple[str, str], tuple[int, int]] = {}
    for task in tasks.values():
        clipped = clip_to_as_of(stays[task.id], AS_OF)
        if task.created_at > AS_OF or not clipped:
            continue
        current = clipped[-1]
        entries = metrics_engine.testing_returns(clipped)
        for status, days in time_in_status(clipped[:-1], AS_OF).items():
            expected[(task.key, status)] = (days, entries[status] + 1)
        expected.setdefault((task.key, current.status), (0, entries[current.status] + 1))
    with synced.connect() as conn:
        got = {
            (r.task_key, r.status): (r.days, r.entries)
            for r in conn.execute(sa.text("SELECT * FROM report_time_in_status"))
        }
    assert len(expected) > 500
    assert got == expected


def test_summary_matches_the_details(synced: Engine, org_config: MetricsConfig):
    from radiator_assets.metrics.aggregate import summarize

    with synced.connect() as conn:
        details = conn.execute(
            sa.text("SELECT * FROM report_ttm_details WHERE finished AND period IS NOT NULL")
        ).all()
        summary = {
            (r.period, r.dimension, r.name): r
            for r in conn.execute(sa.text("SELECT * FROM report_ttm_summary"))
        }
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for r in details:
        groups[(r.period, "team", r.team)].append(r)
        groups[(r.period, "lead", r.lead)].append(r)
    assert set(summary) == set(groups)
    for key, members in groups.items():
        stats = summarize([m.ttm for m in members], threshold=org_config.thresholds.ttm)
        row = summary[key]
        assert (row.tasks, row.ttm_count, row.ttm_max, row.ttm_over) == (
            len(members),
            stats.count,
            stats.max,
            stats.over_threshold,
        )
        assert row.ttm_p85 == pytest.approx(stats.p85)
        median = summarize([m.devlt for m in members]).median
        assert row.devlt_median == (None if median is None else pytest.approx(median))


def python_time_in_status(engine: Engine, inputs: ReportInputs) -> dict[tuple[str, str], tuple]:
    """report_time_in_status by `time_in_status.task_rows`, task by task (the definition)."""
    with snapshot(engine) as conn:
        return {
            row[:2]: row
            for batch in stream_tasks(conn, as_of=inputs.as_of)
            for task in batch
            for row in task_rows(task, inputs)
        }


def stored_time_in_status(engine: Engine) -> dict[tuple[str, str], tuple]:
    columns = ", ".join(TIS_COLUMNS)
    with engine.connect() as conn:
        return {
            tuple(r)[:2]: tuple(r)
            for r in conn.execute(sa.text(f"SELECT {columns} FROM report_time_in_status"))
        }


@pytest.mark.parametrize("as_of", [AS_OF, datetime(2026, 1, 1, tzinfo=UTC)])
def test_time_in_status_sql_equals_the_python_rows(
    synced: Engine, org_config: MetricsConfig, as_of: datetime
):
    """The window-function query gives every column of every row exactly as the Python
    definition does, inside the history (clipping) and after its end."""
    inputs = ReportInputs.of(org_config, as_of)
    try:
        build_time_in_status(synced, inputs)
        got = stored_time_in_status(synced)
        expected = python_time_in_status(synced, inputs)
    finally:
        build_time_in_status(synced, ReportInputs.of(org_config, AS_OF))
    assert len(expected) > 500
    assert sum(1 for row in expected.values() if row[5] > 0) > 50  # open current stays
    assert sum(1 for row in expected.values() if row[6] > 1) > 20  # re-entered statuses
    assert got == expected


def test_testing_returns_sql_equals_the_python_counts(synced: Engine, org_config: MetricsConfig):
    """report_testing_returns' task rows (returns from SQL) equal `task_workflow_returns`
    (the engine's `testing_returns`) task by task."""
    inputs = ReportInputs.of(org_config, AS_OF)
    columns = [*WORKFLOW_COLUMNS, "current_status"]
    with snapshot(synced) as conn:
        expected = {
            task.key: {
                **task_workflow_returns(task.stays, inputs),
                "current_status": task.stays[-1].status,
            }
            for batch in stream_tasks(conn, as_of=AS_OF, queues=[org_config.queues.implementation])
            for task in batch
        }
    with synced.connect() as conn:
        got = {
            r["key"]: {c: r[c] for c in columns}
            for r in conn.execute(
                sa.text("SELECT * FROM report_testing_returns WHERE scope = 'task'")
            ).mappings()
        }
    assert len(expected) > 100
    assert sum(1 for counts in expected.values() if counts["returns_testing"]) > 5
    assert got == expected
