"""Upgrades over drifted databases, object by object of head, and the loud failures.

The cases are generated from `Base.metadata`, so a table, column, key, unique
constraint, index or foreign key added to the models is covered without
touching this file:

* present: the object made by hand with only what it needs (its table with the
  columns it names; the referred table for a foreign key);
* missing: the whole schema made by hand (`create_all`, no `alembic_version`)
  without the object;
* renamed: the whole schema made by hand with every key, constraint and index
  under a name of its own (they are renamed to ours, not duplicated).

Either way `upgrade` to head must end with `schema_differences` (what
`radiator db check` prints) empty. To keep the run short, the cases are packed
into rounds: one case per table, on tables that do not touch each other
(neither the same table nor one a foreign key links it to), each round in one
transaction rolled back afterwards.
"""

from __future__ import annotations

import ast
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL

from alembic import command
from radiator_assets.storage import migration_ops as ops
from radiator_assets.storage.engine import create_engine
from radiator_assets.storage.migration_ops import DriftError
from radiator_assets.storage.migrations import (
    HAND_MADE_INDEXES,
    PROJECT_ROOT,
    alembic_config,
    current_revision,
    head_revision,
    schema_differences,
    upgrade,
)
from radiator_assets.storage.models import Base
from radiator_assets_tests.conftest import create_database, drop_database

HEAD = Base.metadata
PG = postgresql.dialect()


# --- the objects of head ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One object of head."""

    kind: str  # table | column | primary_key | unique | index | foreign_key
    table: str
    name: str

    def __str__(self) -> str:
        where = self.table if self.kind == "table" else f"{self.table}.{self.name}"
        return f"{self.kind} {where}"


def head_objects() -> list[Case]:
    found = []
    for table in HEAD.sorted_tables:
        t = table.name
        found.append(Case("table", t, t))
        found += [Case("column", t, c.name) for c in table.columns]
        if table.primary_key.columns:
            found.append(Case("primary_key", t, str(table.primary_key.name)))
        found += [
            Case("unique", t, str(c.name))
            for c in table.constraints
            if isinstance(c, sa.UniqueConstraint)
        ]
        found += [Case("index", t, str(ix.name)) for ix in table.indexes]
        found += [Case("foreign_key", t, str(fk.name)) for fk in table.foreign_key_constraints]
    return found


def _constraint(case: Case) -> sa.Constraint | sa.Index:
    table = HEAD.tables[case.table]
    candidates: list[sa.Constraint | sa.Index] = [*table.constraints, *table.indexes]
    return next(c for c in candidates if c.name == case.name)


def _referring_tables(table: str, column: str | None = None) -> set[str]:
    """Tables whose foreign keys refer to `table` (to `column` of it, when given)."""
    return {
        fk.parent.table.name
        for other in HEAD.tables.values()
        for fk in other.foreign_keys
        if fk.column.table.name == table and column in (None, fk.column.name)
    }


def touched_when_present(case: Case) -> set[str]:
    if case.kind == "foreign_key":
        fk = _constraint(case)
        assert isinstance(fk, sa.ForeignKeyConstraint)
        return {case.table, fk.referred_table.name}
    return {case.table}


def touched_when_missing(case: Case) -> set[str]:
    """The table, and the tables whose foreign keys go with the object (CASCADE)."""
    if case.kind in ("table", "primary_key"):
        return {case.table} | _referring_tables(case.table)
    if case.kind == "column":
        return {case.table} | _referring_tables(case.table, case.name)
    if case.kind == "unique":
        constraint = _constraint(case)
        assert isinstance(constraint, sa.UniqueConstraint)
        referring = [_referring_tables(case.table, c.name) for c in constraint.columns]
        return {case.table}.union(*referring)
    return {case.table}


@dataclass
class Round:
    cases: list[Case] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        return "; ".join(str(c) for c in self.cases)


def pack(cases: list[Case], touched: Callable[[Case], set[str]]) -> list[Round]:
    """First fit, busiest tables first: rounds whose cases touch disjoint sets of tables."""
    load: dict[str, int] = {}
    for case in cases:
        for t in touched(case):
            load[t] = load.get(t, 0) + 1
    rounds: list[Round] = []
    for case in sorted(cases, key=lambda c: -max(load[t] for t in touched(c))):
        tables = touched(case)
        target = next((r for r in rounds if not r.tables & tables), None)
        if target is None:
            target = Round()
            rounds.append(target)
        target.cases.append(case)
        target.tables |= tables
    return rounds


PRESENT_ROUNDS = pack(head_objects(), touched_when_present)
MISSING_ROUNDS = pack(head_objects(), touched_when_missing)


# --- hand-made DDL ------------------------------------------------------------------------------


def q(name: str) -> str:
    return PG.identifier_preparer.quote(name)


def make_table(conn: sa.Connection, table_name: str, columns: list[str]) -> None:
    """The table with these columns exactly as the models define them (comments too)."""
    table = HEAD.tables[table_name]
    specs = ", ".join(str(sa.schema.CreateColumn(table.c[c]).compile(dialect=PG)) for c in columns)
    conn.execute(sa.text(f"CREATE TABLE {q(table_name)} ({specs})"))
    for c in columns:
        if table.c[c].comment:
            conn.execute(sa.schema.SetColumnComment(table.c[c]))


def _cols(names: list[str]) -> str:
    return ", ".join(q(n) for n in names)


def make_present(conn: sa.Connection, case: Case) -> None:
    """The object by hand, with only what it needs."""
    if case.kind == "table":
        conn.execute(sa.text(f"CREATE TABLE {q(case.table)} ()"))
    elif case.kind == "column":
        make_table(conn, case.table, [case.name])
    elif case.kind == "index":
        index = _constraint(case)
        assert isinstance(index, sa.Index)
        columns = [c.name for c in index.columns]
        make_table(conn, case.table, columns)
        using = index.dialect_options["postgresql"]["using"] or "btree"
        unique = "UNIQUE " if index.unique else ""
        conn.execute(
            sa.text(
                f"CREATE {unique}INDEX {q(case.name)} ON {q(case.table)} "
                f"USING {using} ({_cols(columns)})"
            )
        )
    elif case.kind in ("primary_key", "unique"):
        constraint = _constraint(case)
        assert isinstance(constraint, sa.PrimaryKeyConstraint | sa.UniqueConstraint)
        columns = [c.name for c in constraint.columns]
        make_table(conn, case.table, columns)
        kind = "PRIMARY KEY" if case.kind == "primary_key" else "UNIQUE"
        conn.execute(
            sa.text(
                f"ALTER TABLE {q(case.table)} ADD CONSTRAINT {q(case.name)} "
                f"{kind} ({_cols(columns)})"
            )
        )
    elif case.kind == "foreign_key":
        fk = _constraint(case)
        assert isinstance(fk, sa.ForeignKeyConstraint)
        columns = list(fk.column_keys)
        referred = fk.referred_table.name
        referred_columns = [e.column.name for e in fk.elements]
        make_table(conn, case.table, columns)
        make_table(conn, referred, referred_columns)
        # What the foreign key needs: the referred columns' key (unnamed: PostgreSQL names it).
        referred_pk = [c.name for c in fk.referred_table.primary_key.columns]
        key = "PRIMARY KEY" if referred_pk == referred_columns else "UNIQUE"
        conn.execute(sa.text(f"ALTER TABLE {q(referred)} ADD {key} ({_cols(referred_columns)})"))
        conn.execute(
            sa.text(
                f"ALTER TABLE {q(case.table)} ADD CONSTRAINT {q(case.name)} FOREIGN KEY "
                f"({_cols(columns)}) REFERENCES {q(referred)} ({_cols(referred_columns)}) "
                f"ON DELETE {fk.ondelete or 'NO ACTION'}"
            )
        )
    else:
        raise AssertionError(case)


def make_missing(conn: sa.Connection, case: Case) -> None:
    """Drop the object from the complete hand-made schema (with what depends on it)."""
    t = q(case.table)
    statements = {
        "table": f"DROP TABLE {t} CASCADE",
        "column": f"ALTER TABLE {t} DROP COLUMN {q(case.name)} CASCADE",
        "primary_key": f"ALTER TABLE {t} DROP CONSTRAINT {q(case.name)} CASCADE",
        "unique": f"ALTER TABLE {t} DROP CONSTRAINT {q(case.name)} CASCADE",
        "index": f"DROP INDEX {q(case.name)}",
        "foreign_key": f"ALTER TABLE {t} DROP CONSTRAINT {q(case.name)}",
    }
    conn.execute(sa.text(statements[case.kind]))


def reported_missing(case: Case) -> str:
    """How `radiator db check` reports the object missing."""
    return {
        "table": f"add_table: {case.table}",
        "column": f"add_column: {case.table}, {case.name}",
        "primary_key": f"modify_primary_key: {case.table}: no primary key -> ",
        "unique": f"add_constraint: {case.name}",
        "index": f"add_index: {case.name}",
        "foreign_key": f"add_fk: {case.name}",
    }[case.kind]


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch_url(pg_server_url: URL) -> Iterator[URL]:
    """An empty database of this module; every test leaves it as it found it."""
    name = f"radiator_drift_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server_url, name)
    yield url
    drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
def scratch_engine(scratch_url: URL) -> Iterator[sa.Engine]:
    engine = create_engine(scratch_url)
    yield engine
    engine.dispose()


def _rolled_back(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@pytest.fixture
def conn(scratch_engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection to an empty database, in a transaction rolled back (DDL too)."""
    yield from _rolled_back(scratch_engine)


@pytest.fixture(scope="module")
def hand_made_engine(pg_server_url: URL) -> Iterator[sa.Engine]:
    """A database with the whole schema made by hand (`create_all`), no alembic_version."""
    name = f"radiator_drift_{uuid.uuid4().hex[:12]}"
    engine = create_engine(create_database(pg_server_url, name))
    HEAD.create_all(engine)
    yield engine
    engine.dispose()
    drop_database(pg_server_url, name)


@pytest.fixture
def hand_made(hand_made_engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection to the hand-made schema, in a transaction rolled back."""
    yield from _rolled_back(hand_made_engine)


@pytest.fixture
def empty_engine(empty_database_url: URL) -> Iterator[sa.Engine]:
    engine = create_engine(empty_database_url)
    yield engine
    engine.dispose()


def upgrade_in(conn: sa.Connection) -> None:
    """`alembic upgrade head` inside the connection's transaction."""
    command.upgrade(alembic_config(conn), "head")


def revision_in(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def differences(bind: sa.Engine | sa.Connection) -> list[str]:
    return sorted(str(d) for d in schema_differences(bind))


def table_names(bind: sa.Engine | sa.Connection) -> list[str]:
    return sorted(sa.inspect(bind).get_table_names())


def snapshot(engine: sa.Engine) -> dict[str, object]:
    """The schema and rows of every table, to compare before and after a failed upgrade."""
    insp = sa.inspect(engine)
    found: dict[str, object] = {}
    with engine.connect() as c:
        for t in sorted(insp.get_table_names()):
            found[t] = (
                [(col["name"], str(col["type"]), col["nullable"]) for col in insp.get_columns(t)],
                insp.get_pk_constraint(t),
                sorted(ix["name"] for ix in insp.get_indexes(t)),
                sorted(map(tuple, c.execute(sa.text(f"SELECT * FROM {q(t)}")).all()), key=repr),
            )
    return found


# --- the generated cases ------------------------------------------------------------------------


def test_the_rounds_cover_every_object_of_head_once() -> None:
    objects = head_objects()
    kinds = {k: sum(1 for o in objects if o.kind == k) for k in {o.kind for o in objects}}
    assert kinds == {
        "table": len(HEAD.tables),
        "column": sum(len(t.columns) for t in HEAD.tables.values()),
        "primary_key": sum(bool(t.primary_key.columns) for t in HEAD.tables.values()),
        "unique": sum(
            isinstance(c, sa.UniqueConstraint) for t in HEAD.tables.values() for c in t.constraints
        ),
        "index": sum(len(t.indexes) for t in HEAD.tables.values()),
        "foreign_key": sum(len(t.foreign_key_constraints) for t in HEAD.tables.values()),
    }
    for rounds, touched in (
        (PRESENT_ROUNDS, touched_when_present),
        (MISSING_ROUNDS, touched_when_missing),
    ):
        packed = [c for r in rounds for c in r.cases]
        assert sorted(packed, key=str) == sorted(objects, key=str)
        for r in rounds:
            per_case = [touched(c) for c in r.cases]
            assert sum(map(len, per_case)) == len(set().union(*per_case)), str(r)


@pytest.mark.parametrize(
    "round_", PRESENT_ROUNDS, ids=[f"round{i:02d}" for i in range(len(PRESENT_ROUNDS))]
)
def test_upgrade_over_objects_made_by_hand(conn: sa.Connection, round_: Round) -> None:
    for case in round_.cases:
        make_present(conn, case)

    upgrade_in(conn)

    assert differences(conn) == [], str(round_)
    assert revision_in(conn) == head_revision()


@pytest.mark.parametrize(
    "round_", MISSING_ROUNDS, ids=[f"round{i:02d}" for i in range(len(MISSING_ROUNDS))]
)
def test_upgrade_over_a_hand_made_schema_missing_objects(
    hand_made: sa.Connection, round_: Round
) -> None:
    for case in round_.cases:
        make_missing(hand_made, case)
    before = differences(hand_made)
    for case in round_.cases:  # the check sees each missing object (the test is not vacuous)
        assert any(d.startswith(reported_missing(case)) for d in before), (case, before)

    upgrade_in(hand_made)

    assert differences(hand_made) == [], str(round_)
    assert revision_in(hand_made) == head_revision()


def test_upgrade_renames_every_key_constraint_and_index_made_under_another_name(
    hand_made: sa.Connection,
) -> None:
    ours = []
    for n, case in enumerate(c for c in head_objects() if c.kind not in ("table", "column")):
        other = f"hand_made_{n}"
        if case.kind == "index":
            hand_made.execute(sa.text(f"ALTER INDEX {q(case.name)} RENAME TO {other}"))
        else:
            hand_made.execute(
                sa.text(f"ALTER TABLE {q(case.table)} RENAME CONSTRAINT {q(case.name)} TO {other}")
            )
        ours.append(case.name)
    assert len(differences(hand_made)) >= len(ours)

    upgrade_in(hand_made)

    assert differences(hand_made) == []
    insp = sa.inspect(hand_made)
    names = []
    for t in HEAD.tables:
        names.append(insp.get_pk_constraint(t)["name"])
        names += [str(c["name"]) for c in insp.get_unique_constraints(t)]
        names += [str(c["name"]) for c in insp.get_foreign_keys(t)]
        names += [
            str(ix["name"])
            for ix in insp.get_indexes(t)
            if not ix.get("duplicates_constraint") and ix["name"] not in HAND_MADE_INDEXES
        ]
    assert sorted(names) == sorted(ours)


# --- the reported cases -------------------------------------------------------------------------


def test_predecessor_case_upgrade_stamp_base_upgrade(empty_engine: sa.Engine) -> None:
    # `alembic upgrade head && alembic stamp base && radiator db upgrade`
    upgrade(empty_engine)
    with empty_engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO tracker_tasks (tracker_id, key, full_data) "
                "VALUES ('t1', 'CPO-1', '{}')"
            )
        )
        c.execute(
            sa.text(
                "INSERT INTO tracker_changelog (id, task_id, updated_at, raw) "
                "SELECT 'e1', id, now(), '{}' FROM tracker_tasks"
            )
        )
        command.stamp(alembic_config(c), "base")
    assert current_revision(empty_engine) is None

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    assert differences(empty_engine) == []
    with empty_engine.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT t.key, e.id FROM tracker_tasks t "
                "JOIN tracker_changelog e ON e.task_id = t.id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [("CPO-1", "e1")]


def test_all_objects_present_and_no_alembic_version_table(hand_made: sa.Connection) -> None:
    assert "alembic_version" not in table_names(hand_made)
    assert differences(hand_made) == []

    upgrade_in(hand_made)

    assert revision_in(hand_made) == head_revision()
    assert differences(hand_made) == []


def test_hand_made_tasks_without_id_get_an_identity_primary_key(conn: sa.Connection) -> None:
    conn.execute(
        sa.text(
            "CREATE TABLE tracker_tasks (tracker_id varchar(64) NOT NULL, "
            "key varchar(64) NOT NULL, full_data jsonb NOT NULL)"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO tracker_tasks VALUES ('a', 'CPO-1', '{}'), ('b', 'CPO-2', '{}'), "
            "('c', 'CPO-3', '{}')"
        )
    )

    upgrade_in(conn)

    assert differences(conn) == []
    numbered = conn.execute(sa.text("SELECT id, tracker_id FROM tracker_tasks ORDER BY id")).all()
    assert [tuple(r) for r in numbered] == [(1, "a"), (2, "b"), (3, "c")]
    # Foreign keys to the new key work, and the identity continues after the rows.
    conn.execute(
        sa.text(
            "INSERT INTO tracker_changelog (id, task_id, updated_at, raw) "
            "VALUES ('e1', 2, now(), '{}')"
        )
    )
    new_id = conn.execute(
        sa.text(
            "INSERT INTO tracker_tasks (tracker_id, key, full_data) "
            "VALUES ('d', 'CPO-4', '{}') RETURNING id"
        )
    ).scalar_one()
    assert new_id == 4
    conn.execute(sa.text("DELETE FROM tracker_tasks WHERE id = 2"))
    assert conn.execute(sa.text("SELECT count(*) FROM tracker_changelog")).scalar_one() == 0


def test_an_existing_changelog_with_complete_tasks_upgrades(conn: sa.Connection) -> None:
    make_table(conn, "tracker_tasks", ["id", "tracker_id", "key", "full_data"])
    conn.execute(
        sa.text(
            "CREATE TABLE tracker_changelog (id varchar(64) PRIMARY KEY, task_id bigint, "
            "updated_at timestamptz, raw jsonb)"
        )
    )
    conn.execute(sa.text("INSERT INTO tracker_tasks VALUES (7, 't7', 'CPO-7', '{}')"))
    conn.execute(sa.text("INSERT INTO tracker_changelog VALUES ('e1', 7, now(), '{}')"))

    upgrade_in(conn)

    assert differences(conn) == []
    rows = conn.execute(sa.text("SELECT id, task_id FROM tracker_changelog")).all()
    assert [tuple(r) for r in rows] == [("e1", 7)]
    fks = sa.inspect(conn).get_foreign_keys("tracker_changelog")
    assert [(f["name"], f["options"]) for f in fks] == [
        ("fk_tracker_changelog_task_id_tracker_tasks", {"ondelete": "CASCADE"})
    ]


def test_an_empty_existing_changelog_upgrades(conn: sa.Connection) -> None:
    conn.execute(
        sa.text("CREATE TABLE tracker_changelog (id varchar(64) PRIMARY KEY, task_id bigint)")
    )

    upgrade_in(conn)

    assert differences(conn) == []


# --- loud failures, nothing half-applied --------------------------------------------------------


def _fails_and_leaves_all_as_it_was(engine: sa.Engine, *fragments: str) -> str:
    before = snapshot(engine)
    with pytest.raises(DriftError) as raised:
        upgrade(engine)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, message
    assert snapshot(engine) == before
    assert "alembic_version" not in before
    assert current_revision(engine) is None
    return message


def test_not_null_column_without_default_on_rows_fails_and_nothing_is_applied(
    empty_engine: sa.Engine,
) -> None:
    # tracker_sync_runs and tracker_tasks come first in 0001: they must not stay behind.
    with empty_engine.begin() as c:
        c.execute(
            sa.text(
                "CREATE TABLE tracker_changelog (id varchar(64) PRIMARY KEY, "
                "task_id bigint NOT NULL, updated_at timestamptz NOT NULL)"
            )
        )
        c.execute(
            sa.text("INSERT INTO tracker_changelog VALUES ('e1', 1, now()), ('e2', 1, now())")
        )

    message = _fails_and_leaves_all_as_it_was(
        empty_engine, "tracker_changelog.raw", "NOT NULL without a default", "2 row(s)"
    )

    assert "UPDATE tracker_changelog SET raw" in message
    assert table_names(empty_engine) == ["tracker_changelog"]


def test_nulls_in_a_column_that_must_be_not_null_fail_and_nothing_is_applied(
    empty_engine: sa.Engine,
) -> None:
    with empty_engine.begin() as c:
        make_table(c, "tracker_sync_runs", ["id", "kind"])
        c.execute(sa.text("ALTER TABLE tracker_sync_runs ALTER COLUMN kind DROP NOT NULL"))
        c.execute(sa.text("INSERT INTO tracker_sync_runs (kind) VALUES ('full'), (NULL)"))

    _fails_and_leaves_all_as_it_was(
        empty_engine,
        "tracker_sync_runs.kind",
        "1 of the 2 row(s)",
        "WHERE kind IS NULL",
    )


def test_duplicates_under_a_unique_key_fail_loudly(conn: sa.Connection) -> None:
    make_table(conn, "tracker_tasks", ["tracker_id", "key", "full_data"])
    conn.execute(
        sa.text("INSERT INTO tracker_tasks VALUES ('a', 'CPO-1', '{}'), ('a', 'CPO-2', '{}')")
    )

    with pytest.raises(DriftError) as raised:
        upgrade_in(conn)

    assert "uq_tracker_tasks_tracker_id" in str(raised.value)
    assert "1 value(s) occur in more than one row" in str(raised.value)


def test_rows_whose_foreign_key_has_no_target_fail_loudly(hand_made: sa.Connection) -> None:
    hand_made.execute(
        sa.text(
            "ALTER TABLE tracker_changelog "
            "DROP CONSTRAINT fk_tracker_changelog_task_id_tracker_tasks"
        )
    )
    hand_made.execute(
        sa.text(
            "INSERT INTO tracker_changelog (id, task_id, updated_at, raw) "
            "VALUES ('e1', 99, now(), '{}')"
        )
    )

    with pytest.raises(DriftError) as raised:
        upgrade_in(hand_made)

    message = str(raised.value)
    assert "fk_tracker_changelog_task_id_tracker_tasks" in message
    assert "1 row(s) of tracker_changelog" in message


def test_a_value_the_new_type_cannot_hold_fails_loudly_and_a_convertible_one_converts(
    hand_made: sa.Connection,
) -> None:
    hand_made.execute(sa.text("ALTER TABLE report_flow_weekly ALTER COLUMN arrivals TYPE text"))
    hand_made.execute(sa.text("ALTER TABLE report_aging_wip ALTER COLUMN age_in_status TYPE text"))
    hand_made.execute(
        sa.text(
            "INSERT INTO report_aging_wip (task_key, team, current_status, status_block, "
            "in_status_since, age_in_status, age_since_created) "
            "VALUES ('CPO-1', 'a', 's', 'b', now(), '12', 30)"
        )
    )
    hand_made.execute(
        sa.text(
            "INSERT INTO report_flow_weekly VALUES ('2026-01-05', 'a', 'many', "
            "1, 1, 1, 1, 1, 1, 1, 1, 1, 1)"
        )
    )
    savepoint = hand_made.begin_nested()
    with pytest.raises(DriftError) as raised:
        upgrade_in(hand_made)
    savepoint.rollback()
    assert "converting report_flow_weekly.arrivals from TEXT to INTEGER" in str(raised.value)
    assert "many" in str(raised.value)

    hand_made.execute(sa.text("UPDATE report_flow_weekly SET arrivals = '3'"))
    upgrade_in(hand_made)

    assert differences(hand_made) == []
    assert hand_made.execute(sa.text("SELECT arrivals FROM report_flow_weekly")).scalar_one() == 3
    assert (
        hand_made.execute(sa.text("SELECT age_in_status FROM report_aging_wip")).scalar_one() == 12
    )


# --- alignment details --------------------------------------------------------------------------


def test_timestamps_without_a_zone_are_read_as_utc_whatever_the_session_zone(
    hand_made: sa.Connection,
) -> None:
    hand_made.execute(sa.text("SET LOCAL TIME ZONE 'Europe/Moscow'"))
    hand_made.execute(
        sa.text(
            "ALTER TABLE tracker_tasks ALTER COLUMN created_at TYPE timestamp without time zone"
        )
    )
    hand_made.execute(
        sa.text(
            "INSERT INTO tracker_tasks (tracker_id, key, full_data, created_at) "
            "VALUES ('t', 'CPO-1', '{}', '2025-01-01 10:00:00')"
        )
    )

    upgrade_in(hand_made)

    assert differences(hand_made) == []
    created = hand_made.execute(
        sa.text("SELECT to_char(created_at AT TIME ZONE 'UTC', 'HH24:MI') FROM tracker_tasks")
    ).scalar_one()
    assert created == "10:00"


def test_identity_variants_are_aligned_and_continue_after_the_rows(
    hand_made: sa.Connection,
) -> None:
    # A plain bigint with values, an identity GENERATED ALWAYS, an integer serial (referred to).
    for sql in (
        "ALTER TABLE tracker_sync_runs ALTER COLUMN id DROP IDENTITY",
        "INSERT INTO tracker_sync_runs (id, kind) VALUES (41, 'full'), (42, 'full')",
        "ALTER TABLE tracker_task_history ALTER COLUMN id SET GENERATED ALWAYS",
        "ALTER TABLE tracker_tasks ALTER COLUMN id DROP IDENTITY",
        "ALTER TABLE tracker_tasks ALTER COLUMN id TYPE integer",
        "CREATE SEQUENCE tracker_tasks_id_seq AS integer OWNED BY tracker_tasks.id",
        "ALTER TABLE tracker_tasks ALTER COLUMN id SET DEFAULT nextval('tracker_tasks_id_seq')",
        "SELECT setval('tracker_tasks_id_seq', 6, false)",
        "INSERT INTO tracker_tasks (tracker_id, key, full_data) VALUES ('a', 'CPO-1', '{}')",
    ):
        hand_made.execute(sa.text(sql))
    assert differences(hand_made) == [
        "modify_default: tracker_sync_runs.id: None -> identity",
        "modify_default: tracker_task_history.id: identity always -> identity",
        "modify_default: tracker_tasks.id: None -> identity",
        "modify_type: tracker_tasks.id: INTEGER -> BIGINT",
    ]

    upgrade_in(hand_made)

    assert differences(hand_made) == []
    run = hand_made.execute(
        sa.text("INSERT INTO tracker_sync_runs (kind) VALUES ('incremental') RETURNING id")
    ).scalar_one()
    task = hand_made.execute(
        sa.text(
            "INSERT INTO tracker_tasks (tracker_id, key, full_data) "
            "VALUES ('b', 'CPO-2', '{}') RETURNING id"
        )
    ).scalar_one()
    assert (run, task) == (43, 7)
    sequences = hand_made.execute(
        sa.text("SELECT relname FROM pg_class WHERE relkind = 'S' ORDER BY relname")
    ).scalars()
    # One sequence per identity column of head, the serial's among them (no second one).
    assert list(sequences) == sorted(
        f"{table.name}_{column.name}_seq"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.identity is not None
    )
    assert (
        hand_made.execute(
            sa.text(
                "SELECT attidentity FROM pg_attribute WHERE attrelid = 'tracker_tasks'::regclass "
                "AND attname = 'id'"
            )
        ).scalar_one()
        == "d"
    )


def test_same_named_objects_with_another_definition_are_replaced(hand_made: sa.Connection) -> None:
    hand_made.execute(sa.text("DROP INDEX ix_tracker_tasks_links"))
    hand_made.execute(
        sa.text("CREATE INDEX ix_tracker_tasks_links ON tracker_tasks USING btree (links)")
    )
    hand_made.execute(
        sa.text(
            "ALTER TABLE tracker_task_history "
            "DROP CONSTRAINT fk_tracker_task_history_task_id_tracker_tasks, "
            "ADD CONSTRAINT by_hand FOREIGN KEY (task_id) REFERENCES tracker_tasks (id)"
        )
    )
    assert "modify_index: ix_tracker_tasks_links: btree (links) -> gin (links)" in differences(
        hand_made
    )

    upgrade_in(hand_made)

    assert differences(hand_made) == []
    fks = sa.inspect(hand_made).get_foreign_keys("tracker_task_history")
    assert [(f["name"], f["options"]) for f in fks] == [
        ("fk_tracker_task_history_task_id_tracker_tasks", {"ondelete": "CASCADE"})
    ]


def test_defaults_comments_and_nullability_are_aligned(hand_made: sa.Connection) -> None:
    hand_made.execute(sa.text("ALTER TABLE tracker_sync_runs ALTER COLUMN status SET DEFAULT 'x'"))
    hand_made.execute(sa.text("ALTER TABLE tracker_tasks ALTER COLUMN aliases DROP DEFAULT"))
    hand_made.execute(sa.text("ALTER TABLE tracker_tasks ALTER COLUMN queue SET DEFAULT 'Q'"))
    hand_made.execute(sa.text("ALTER TABLE report_ttm_details ALTER COLUMN team DROP NOT NULL"))
    hand_made.execute(sa.text("ALTER TABLE report_ttm_details ALTER COLUMN summary SET NOT NULL"))
    hand_made.execute(sa.text("COMMENT ON COLUMN report_ttm_details.ttm IS 'by hand'"))
    hand_made.execute(sa.text("COMMENT ON COLUMN report_ttm_details.summary IS NULL"))
    assert len(differences(hand_made)) == 7

    upgrade_in(hand_made)

    assert differences(hand_made) == []


def test_what_is_not_ours_is_kept(hand_made: sa.Connection) -> None:
    hand_made.execute(sa.text("ALTER TABLE tracker_tasks ADD COLUMN note text"))
    hand_made.execute(sa.text("CREATE INDEX by_hand_note ON tracker_tasks (note)"))
    hand_made.execute(sa.text("CREATE TABLE tracker_notes (id int)"))
    hand_made.execute(
        sa.text(
            "INSERT INTO tracker_tasks (tracker_id, key, full_data, note) "
            "VALUES ('a', 'CPO-1', '{}', 'keep me')"
        )
    )

    upgrade_in(hand_made)

    assert differences(hand_made) == [
        "remove_column: tracker_tasks, note",
        "remove_index: by_hand_note",
        "remove_table: tracker_notes",
    ]
    assert hand_made.execute(sa.text("SELECT note FROM tracker_tasks")).scalar_one() == "keep me"


def test_db_check_reports_keys_and_index_methods(hand_made: sa.Connection) -> None:
    hand_made.execute(
        sa.text("ALTER TABLE report_aging_wip RENAME CONSTRAINT pk_report_aging_wip TO x")
    )
    hand_made.execute(
        sa.text("ALTER TABLE report_flow_weekly DROP CONSTRAINT pk_report_flow_weekly")
    )
    hand_made.execute(sa.text("DROP INDEX ix_tracker_tasks_queue"))
    hand_made.execute(
        sa.text("CREATE INDEX ix_tracker_tasks_queue ON tracker_tasks USING hash (queue)")
    )

    assert differences(hand_made) == [
        "modify_index: ix_tracker_tasks_queue: hash (queue) -> btree (queue)",
        "modify_primary_key: report_aging_wip: x (task_key) -> pk_report_aging_wip (task_key)",
        "modify_primary_key: report_flow_weekly: no primary key -> "
        "pk_report_flow_weekly (week_start, team)",
    ]


# --- the API for new revisions ------------------------------------------------------------------


def _in_revision(conn: sa.Connection, body: Callable[[], None]) -> None:
    """Run `body` as a revision's upgrade() would run."""
    context = MigrationContext.configure(conn)
    with Operations.context(context):
        body()


def _revision_0003() -> None:
    # What a revision changing existing tables writes (autogenerate's calls, `ops.` for `op.`).
    ops.add_column("tracker_tasks", sa.Column("sprint", sa.String(64), comment="sprint name"))
    ops.create_index("ix_tracker_tasks_sprint", "tracker_tasks", ["sprint"])
    ops.create_unique_constraint(
        "uq_report_ttm_details_task_key_period", "report_ttm_details", ["task_key", "period"]
    )
    ops.create_foreign_key(
        "fk_tracker_task_history_tracker_id_tracker_tasks",
        "tracker_task_history",
        "tracker_tasks",
        ["tracker_id"],
        ["tracker_id"],
        ondelete="CASCADE",
    )
    ops.create_table(
        "tracker_comments",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "task_id",
            sa.BigInteger,
            sa.ForeignKey("tracker_tasks.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
    )


def _expected_0003() -> sa.MetaData:
    """Head as 0003 would leave it: the models plus its changes."""
    target = sa.MetaData(naming_convention=ops.NAMING_CONVENTION)
    for table in HEAD.tables.values():
        table.to_metadata(target)
    tasks = target.tables["tracker_tasks"]
    tasks.append_column(sa.Column("sprint", sa.String(64), comment="sprint name"))
    sa.Index("ix_tracker_tasks_sprint", tasks.c.sprint)
    details = target.tables["report_ttm_details"]
    details.append_constraint(sa.UniqueConstraint("task_key", "period"))
    target.tables["tracker_task_history"].append_constraint(
        sa.ForeignKeyConstraint(["tracker_id"], ["tracker_tasks.tracker_id"], ondelete="CASCADE")
    )
    sa.Table(
        "tracker_comments",
        target,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "task_id",
            sa.BigInteger,
            sa.ForeignKey("tracker_tasks.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
    )
    return target


def _differences_from(conn: sa.Connection, target: sa.MetaData) -> list[str]:
    from alembic.autogenerate import compare_metadata

    from radiator_assets.storage.migrations import COMPARE_OPTIONS

    context = MigrationContext.configure(conn, opts=COMPARE_OPTIONS)
    found = [str(d) for d in compare_metadata(context, target)]
    return found + [f"{k}: {d}" for k, d in ops.key_differences(conn, target)]


def test_revision_helpers_for_existing_tables_are_drift_tolerant(conn: sa.Connection) -> None:
    upgrade_in(conn)
    conn.execute(
        sa.text(
            "INSERT INTO tracker_tasks (tracker_id, key, full_data) VALUES ('a', 'CPO-1', '{}')"
        )
    )
    # Half of 0003 done by hand, under other names and with another type.
    conn.execute(sa.text("ALTER TABLE tracker_tasks ADD COLUMN sprint text"))
    conn.execute(sa.text("CREATE INDEX sprint_by_hand ON tracker_tasks (sprint)"))
    conn.execute(
        sa.text("ALTER TABLE report_ttm_details ADD CONSTRAINT by_hand UNIQUE (task_key, period)")
    )
    assert _differences_from(conn, _expected_0003()) != []

    _in_revision(conn, _revision_0003)
    _in_revision(conn, _revision_0003)  # and once more: nothing left to do

    assert _differences_from(conn, _expected_0003()) == []
    assert conn.execute(sa.text("SELECT key FROM tracker_tasks")).scalar_one() == "CPO-1"


def test_revision_helpers_refuse_a_table_that_is_gone(conn: sa.Connection) -> None:
    with pytest.raises(DriftError, match="table tracker_tasks does not exist"):
        _in_revision(conn, lambda: ops.add_column("tracker_tasks", sa.Column("x", sa.Text)))


def test_a_new_revision_from_the_template_upgrades_cleanly(
    conn: sa.Connection, tmp_path: Path
) -> None:
    scripts = tmp_path / "alembic"
    shutil.copytree(PROJECT_ROOT / "alembic", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    upgrade_in(conn)
    conn.execute(sa.text("ALTER TABLE tracker_tasks DROP COLUMN deleted_at"))

    cfg = alembic_config(conn)
    cfg.set_main_option("script_location", str(scripts))
    command.revision(cfg, "example", rev_id="0099", autogenerate=True)
    [written] = (scripts / "versions").glob("*_0099_example.py")
    source = written.read_text()
    ast.parse(source)
    assert "ops.ensure_tables(target)" in source
    assert "    # op.add_column('tracker_tasks', sa.Column('deleted_at'" in source

    conn.execute(sa.text("ALTER TABLE tracker_tasks ADD COLUMN deleted_at timestamptz"))
    command.upgrade(cfg, "head")
    assert revision_in(conn) == "0099"
    assert differences(conn) == []


def test_offline_mode_is_refused(scratch_url: URL) -> None:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    # configparser reads % as interpolation: an embedded server's socket path has %2F
    url = scratch_url.render_as_string(hide_password=False).replace("%", "%%")
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logging"] = False
    with pytest.raises(RuntimeError, match="offline"):
        command.upgrade(cfg, "head", sql=True)


# --- guards -------------------------------------------------------------------------------------


def test_revisions_name_things_as_the_models_do() -> None:
    assert dict(HEAD.naming_convention) == ops.NAMING_CONVENTION


def test_migration_ops_uses_no_private_attributes() -> None:
    # Of SQLAlchemy's or Alembic's objects, that is: its own helper class may have some.
    tree = ast.parse(Path(ops.__file__).read_text())
    private = sorted(
        {
            ast.unparse(node)
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
        }
    )
    assert private == []
