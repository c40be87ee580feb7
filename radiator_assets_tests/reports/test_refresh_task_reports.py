"""Refreshing report_time_in_status, report_testing_returns and report_subepic_returns for
the changed tasks gives the tables a full build gives.

An emulated organisation is synced and fully built; then seeded random rounds
change a few tasks straight in the warehouse (stays appended, a history
rewritten, a task deleted, added or moved to another key, a sub-task moved to
another epic or out of it, an epic's title and team changed, a linked
implementation task's history changed), advance as_of (sometimes across a day
boundary), put into `rep_changed_tasks` exactly what a correct change detector
would (the modified tasks, plus every task with a stay start or end or a
creation `t` whose whole days to as_of moved, or that as_of passed), refresh the
three reports in one transaction and compare each table with a full build at the
same as_of, row for row (EXCEPT ALL both ways).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from radiator_assets.emulator import generate_org
from radiator_assets.emulator.model import DEFAULT_NOW
from radiator_assets.metrics.config import MetricsConfig, SubepicReturns
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.returns import build_testing_returns, refresh_testing_returns
from radiator_assets.reports.subepic_returns import build_subepic_returns, refresh_subepic_returns
from radiator_assets.reports.time_in_status import build_time_in_status, refresh_time_in_status
from radiator_assets.storage.unit_of_work import unit_of_work
from radiator_assets_tests.reports.seed import load_org

TABLES = ("report_time_in_status", "report_testing_returns", "report_subepic_returns")
BUILDS = (build_time_in_status, build_testing_returns, build_subepic_returns)
REFRESHES = (refresh_time_in_status, refresh_testing_returns, refresh_subepic_returns)
START = DEFAULT_NOW - timedelta(days=3)
#: hours as_of moves per round: across day boundaries, and not at all (then the changed
#: table holds only the modified tasks, and a missing expansion to their epics shows)
STEPS = (0, 3, 0, 26, 0, 20, 0, 9)


@pytest.fixture(scope="module")
def config() -> MetricsConfig:
    return MetricsConfig.default().model_copy(
        update={"subepic_returns": SubepicReturns(start_date=date(2023, 1, 1))}
    )


@pytest.fixture(scope="module")
def org_db(module_database: Callable[[], Engine]) -> Engine:
    engine = module_database()
    load_org(engine, generate_org(seed=5, n_issues=300))
    return engine


def build_all(engine: Engine, inputs: ReportInputs) -> None:
    for build in BUILDS:
        build(engine, inputs, full=True)


def refresh_all(engine: Engine, inputs: ReportInputs, changed: set[int]) -> None:
    with unit_of_work(engine) as conn:
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE rep_changed_tasks (task_id bigint PRIMARY KEY) ON COMMIT DROP"
            )
        )
        conn.execute(
            sa.text("INSERT INTO rep_changed_tasks SELECT unnest(CAST(:ids AS bigint[]))"),
            {"ids": sorted(changed)},
        )
        for refresh in REFRESHES:
            refresh(conn, inputs)


def moved_by_as_of(conn: Connection, old: datetime, new: datetime) -> set[int]:
    """The tasks a change detector lists because as_of moved from `old` to `new`: a stay
    start or end or a creation `t` with floor((new - t) / day) != floor((old - t) / day),
    or t > old."""
    moved = (
        "{t} IS NOT NULL AND ({t} > :old OR floor(extract(epoch FROM :new - {t}) / 86400) "
        "<> floor(extract(epoch FROM :old - {t}) / 86400))"
    )
    sql = (
        "SELECT task_id FROM tracker_task_history "
        f"WHERE {moved.format(t='start_date')} OR {moved.format(t='end_date')} "
        f"UNION SELECT id FROM tracker_tasks WHERE {moved.format(t='created_at')}"
    )
    return set(conn.scalars(sa.text(sql), {"old": old, "new": new}))


# --------------------------------------------------------------------------- changes


def pick(conn: Connection, rng: random.Random, where: str) -> tuple | None:
    """A random live task (id, key, queue, epic_key) matching `where`."""
    rows = conn.execute(
        sa.text(
            "SELECT id, key, queue, epic_key FROM tracker_tasks "
            f"WHERE deleted_at IS NULL AND {where} ORDER BY id"
        )
    ).all()
    return tuple(rng.choice(rows)) if rows else None


def statuses(conn: Connection) -> list[str]:
    return list(
        conn.scalars(sa.text("SELECT DISTINCT status FROM tracker_task_history ORDER BY 1"))
    )


def touch_task(conn: Connection, task_id: int) -> None:
    """Write the task row, as the sync does in every transaction that writes its stays:
    incremental builds take the task row's xmin as the task's fingerprint (changes.py)."""
    conn.execute(
        sa.text("UPDATE tracker_tasks SET history_stale = false WHERE id = :t"), {"t": task_id}
    )


def append_stay(conn: Connection, rng: random.Random, task_id: int, at: datetime) -> None:
    """Close the task's open stay at `at` and open a new one there."""
    touch_task(conn, task_id)
    last = conn.scalar(
        sa.text("SELECT max(start_date) FROM tracker_task_history WHERE task_id = :t"),
        {"t": task_id},
    )
    at = max(at, last + timedelta(minutes=1)) if last else at
    conn.execute(
        sa.text(
            "UPDATE tracker_task_history SET end_date = :at "
            "WHERE task_id = :t AND (end_date IS NULL OR end_date > :at)"
        ),
        {"t": task_id, "at": at},
    )
    conn.execute(
        sa.text(
            "INSERT INTO tracker_task_history (task_id, tracker_id, status, start_date) "
            "SELECT :t, tracker_id, :s, :at FROM tracker_tasks WHERE id = :t"
        ),
        {"t": task_id, "s": rng.choice(statuses(conn)), "at": at},
    )


def rewrite_history(conn: Connection, rng: random.Random, task_id: int) -> None:
    """Drop one stay of the history (not the first) and let its predecessor span it."""
    touch_task(conn, task_id)
    stays = conn.execute(
        sa.text(
            "SELECT id, end_date FROM tracker_task_history WHERE task_id = :t "
            "ORDER BY start_date, id"
        ),
        {"t": task_id},
    ).all()
    if len(stays) < 3:
        return
    i = rng.randrange(1, len(stays) - 1)
    conn.execute(sa.text("DELETE FROM tracker_task_history WHERE id = :i"), {"i": stays[i].id})
    conn.execute(
        sa.text("UPDATE tracker_task_history SET end_date = :e WHERE id = :i"),
        {"i": stays[i - 1].id, "e": stays[i].end_date},
    )


def add_task(conn: Connection, rng: random.Random, n: int, epic: str | None, at: datetime) -> int:
    key = f"FULLSTACK-{9000 + n}"
    task_id = conn.scalar(
        sa.text(
            "INSERT INTO tracker_tasks (tracker_id, key, aliases, queue, summary, status, author, "
            "epic_key, team, links, full_data, created_at, task_updated_at) VALUES (:k, :k, "
            "'[]', 'FULLSTACK', :k, 'open', 'Author 1', :epic, :team, '[]', '{}', :at, :at) "
            "RETURNING id"
        ),
        {"k": key, "epic": epic, "team": rng.choice([None, "Team X"]), "at": at},
    )
    for hours, status in ((0, "open"), (2, "inProgress"), (5, "testing"), (7, "inProgress")):
        append_stay_at(conn, task_id, status, at + timedelta(hours=hours))
    return task_id


def append_stay_at(conn: Connection, task_id: int, status: str, at: datetime) -> None:
    touch_task(conn, task_id)
    conn.execute(
        sa.text(
            "UPDATE tracker_task_history SET end_date = :at WHERE task_id = :t AND end_date IS NULL"
        ),
        {"t": task_id, "at": at},
    )
    conn.execute(
        sa.text(
            "INSERT INTO tracker_task_history (task_id, tracker_id, status, start_date) "
            "VALUES (:t, 'x', :s, :at)"
        ),
        {"t": task_id, "s": status, "at": at},
    )


def change_round(conn: Connection, rng: random.Random, n: int, as_of: datetime) -> set[int]:
    """A few random changes (each kind at least once in a while); the changed task ids."""
    changed: set[int] = set()
    fullstack = "queue = 'FULLSTACK'"
    for _ in range(3):
        task = pick(conn, rng, "true")
        append_stay(conn, rng, task[0], as_of - timedelta(hours=rng.uniform(0, 30)))
        changed.add(task[0])
    task = pick(conn, rng, "true")
    rewrite_history(conn, rng, task[0])
    changed.add(task[0])
    epics = [
        k
        for k in conn.scalars(
            sa.text(
                "SELECT DISTINCT epic_key FROM tracker_tasks WHERE epic_key IS NOT NULL ORDER BY 1"
            )
        )
    ]
    kind = n % 4
    if kind == 0:  # a sub-task of an epic moves to another epic or out of it
        task = pick(conn, rng, f"{fullstack} AND epic_key IS NOT NULL")
        conn.execute(
            sa.text("UPDATE tracker_tasks SET epic_key = :e, team = :team WHERE id = :t"),
            {"t": task[0], "e": rng.choice([None, *epics]), "team": rng.choice([None, "Team Q"])},
        )
        changed.add(task[0])
    elif kind == 1:  # an epic's own row: title and team
        epic = pick(conn, rng, "key IN (SELECT epic_key FROM tracker_tasks)")
        if epic:
            conn.execute(
                sa.text(
                    "UPDATE tracker_tasks SET summary = summary || ' *', team = :team, "
                    "prodteam = NULL WHERE id = :t"
                ),
                {"t": epic[0], "team": rng.choice([None, f"Team {n}"])},
            )
            changed.add(epic[0])
    elif kind == 2:  # a task is deleted, another added to an epic
        task = pick(conn, rng, fullstack)
        conn.execute(
            sa.text("UPDATE tracker_tasks SET deleted_at = :at WHERE id = :t"),
            {"t": task[0], "at": as_of},
        )
        changed.add(task[0])
        # created 40 days before the epic's other tasks: the month of the whole epic changes
        epic = rng.choice(epics)
        first = conn.scalar(
            sa.text("SELECT min(created_at) FROM tracker_tasks WHERE epic_key = :e"), {"e": epic}
        )
        changed.add(add_task(conn, rng, n, epic, first - timedelta(days=40)))
    else:  # a task moves to a new key (the old one kept in aliases); a linked task changes
        task = pick(conn, rng, f"{fullstack} AND epic_key IS NOT NULL")
        conn.execute(
            sa.text(
                "UPDATE tracker_tasks SET key = :k, aliases = aliases || to_jsonb(key) "
                "WHERE id = :t"
            ),
            {"t": task[0], "k": f"MOVED-{n}"},
        )
        changed.add(task[0])
        linked = pick(conn, rng, f"{fullstack} AND links::text LIKE '%relates%'")
        append_stay(conn, rng, linked[0], as_of - timedelta(hours=1))
        changed.add(linked[0])
    return changed


# --------------------------------------------------------------------------- comparison


def differences(engine: Engine, table: str) -> list[tuple]:
    """Rows of `table` not in its snapshot `refreshed_<table>` and the other way round."""
    with engine.connect() as conn:
        missing = conn.execute(
            sa.text(
                f"SELECT 'full only', * FROM (TABLE {table} EXCEPT ALL TABLE refreshed_{table}) a"
            )
        ).all()
        extra = conn.execute(
            sa.text(
                f"SELECT 'refresh only', * "
                f"FROM (TABLE refreshed_{table} EXCEPT ALL TABLE {table}) a"
            )
        ).all()
    return [tuple(r) for r in (*missing, *extra)]


def snapshot_tables(engine: Engine) -> dict[str, int]:
    counts = {}
    with unit_of_work(engine) as conn:
        for table in TABLES:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS refreshed_{table}"))
            conn.execute(sa.text(f"CREATE TABLE refreshed_{table} AS TABLE {table}"))
            counts[table] = conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))
    return counts


def test_refreshing_the_changed_tasks_gives_the_full_build(org_db: Engine, config: MetricsConfig):
    rng = random.Random(2024)
    as_of = START
    build_all(org_db, ReportInputs.of(config, as_of))
    for n, hours in enumerate(STEPS):
        new_as_of = as_of + timedelta(hours=hours)
        with unit_of_work(org_db) as conn:
            changed = change_round(conn, rng, n, new_as_of)
            changed |= moved_by_as_of(conn, as_of, new_as_of)
        as_of = new_as_of
        inputs = ReportInputs.of(config, as_of)
        refresh_all(org_db, inputs, changed)
        counts = snapshot_tables(org_db)
        build_all(org_db, inputs)
        for table in TABLES:
            assert differences(org_db, table) == [], (n, table)
            assert counts[table] > 0, table
    with org_db.connect() as conn:
        assert (
            conn.scalar(
                sa.text("SELECT count(*) FROM report_subepic_returns WHERE epic_key IS NOT NULL")
            )
            > 10
        )
        assert (
            conn.scalar(sa.text("SELECT count(*) FROM report_testing_returns WHERE scope = 'epic'"))
            >= 3
        )
