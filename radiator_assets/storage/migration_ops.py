"""Drift-tolerant schema changes for Alembic revisions.

The predecessor's migration died with "column already exists" because someone
had added the column by hand, and users lose the `alembic_version` table while
every object is still there. A revision written with these helpers declares
the schema it wants and the helpers do what is missing, so an upgrade over a
database that already has some (or all) of the objects ends with exactly the
declared schema.

Writing a revision
------------------
Declare the tables *as of this revision* as ordinary `sa.Table` objects in a
`revision_metadata()` (the models' naming convention, so the names of keys,
constraints and indexes come out as in `models.py`), then call
`ensure_tables`. Changes to a table an earlier revision created use the same
signatures as Alembic's `op.*` (autogenerate's output becomes drift-tolerant by
writing `ops.` for `op.`)::

    import sqlalchemy as sa

    from alembic import op
    from radiator_assets.storage import migration_ops as ops

    def upgrade() -> None:
        target = ops.revision_metadata()
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
            sa.Column("body", sa.Text, nullable=False),
        )
        ops.ensure_tables(target)
        ops.add_column("tracker_tasks", sa.Column("sprint", sa.String(64)))
        ops.create_index(op.f("ix_tracker_tasks_sprint"), "tracker_tasks", ["sprint"])

A foreign key may refer to a table of an earlier revision by name
(`"tracker_tasks.id"`) without declaring it again.

What "ensure" does
------------------
* A missing table is created with its primary key, unique constraints,
  foreign keys, indexes, identity, server defaults and comments.
* An existing table is compared with its declaration and aligned, additively:
  missing columns are added; types are converted (`USING col::type`);
  nullability, server defaults, identity (a serial becomes an identity; the
  identity continues after the highest value) and comments are set; the
  primary key, unique constraints, indexes and foreign keys are created. An
  index or constraint made by hand under another name with the same
  definition is renamed to ours rather than duplicated; one that carries our
  name with another definition is replaced (it holds no data), and so are a
  primary key on other columns and a foreign key on the same columns with
  other rules (ON DELETE ...). A declared column's default is what the
  revision says (one made by hand where it declares none is dropped).
* Nothing else of the user's is touched: columns (and their data), tables,
  indexes and constraints the declaration does not know stay (`radiator db
  check` lists them).
* No value is ever invented. A NOT NULL column without a server default on a
  table that has rows, NULLs in a column that must be NOT NULL, duplicates
  under a unique key, rows whose foreign key has no target, and values a type
  conversion rejects raise `DriftError`, which names the table, the column
  and the rows and says what to do. `migrations.upgrade` runs every revision
  in one transaction, so a failed upgrade leaves nothing half-applied.

Online only: the helpers read the live schema, so `alembic upgrade --sql`
(offline mode) is refused.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.operations import ops as alembic_ops
from alembic.runtime.migration import MigrationContext

from alembic import op

log = logging.getLogger("alembic.radiator")

# The naming convention of `radiator_assets.storage.models.Base.metadata` (a test keeps them equal).
# Revisions must not follow later changes of the models, hence a copy.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

IDENTITY_OPTIONS = (
    "always",
    "start",
    "increment",
    "minvalue",
    "maxvalue",
    "nominvalue",
    "nomaxvalue",
    "cycle",
    "cache",
)


class DriftError(RuntimeError):
    """The live schema cannot be brought to the revision's without inventing or losing data."""


def revision_metadata() -> sa.MetaData:
    """A MetaData for a revision's tables, with the models' naming convention."""
    return sa.MetaData(naming_convention=NAMING_CONVENTION)


# --- public operations ---------------------------------------------------------------------------


def ensure_tables(metadata: sa.MetaData) -> None:
    """Make every table of `metadata` exist as declared (see the module docstring)."""
    tables = _dependency_order(list(metadata.tables.values()))
    _ensure(tables, partial=False)


def create_table(table_name: str, *elements: sa.schema.SchemaItem, **kw: Any) -> None:
    """`op.create_table`'s signature: the table as declared, whether it exists or not."""
    metadata = revision_metadata()
    sa.Table(table_name, metadata, *elements, **kw)
    ensure_tables(metadata)


def add_column(table_name: str, column: sa.Column[Any]) -> None:
    """`op.add_column`'s signature: add the column, or align the existing one with it."""
    table = sa.Table(table_name, revision_metadata(), column)
    _ensure([table], partial=True)


def create_index(
    index_name: str | None,
    table_name: str,
    columns: Sequence[str],
    *,
    unique: bool = False,
    **kw: Any,
) -> None:
    """`op.create_index`'s signature: the index, unless it exists (by name or by definition)."""
    table = _stub_table(table_name, columns)
    sa.Index(index_name, *(table.c[c] for c in columns), unique=unique, **kw)
    _ensure([table], partial=True)


def create_unique_constraint(
    constraint_name: str | None, table_name: str, columns: Sequence[str]
) -> None:
    """`op.create_unique_constraint`'s signature, reusing a hand-made equivalent."""
    table = _stub_table(table_name, columns)
    table.append_constraint(sa.UniqueConstraint(*columns, name=constraint_name))
    _ensure([table], partial=True)


def create_foreign_key(
    constraint_name: str | None,
    source_table: str,
    referent_table: str,
    local_cols: Sequence[str],
    remote_cols: Sequence[str],
    **kw: Any,
) -> None:
    """`op.create_foreign_key`'s signature (ondelete=..., onupdate=...), reusing an equivalent."""
    table = _stub_table(source_table, local_cols)
    table.append_constraint(
        sa.ForeignKeyConstraint(
            list(local_cols),
            [f"{referent_table}.{c}" for c in remote_cols],
            name=constraint_name,
            **kw,
        )
    )
    _ensure([table], partial=True)


def drop_table(table_name: str) -> None:
    """Drop a table if it exists (downgrades run over drifted databases too)."""
    op.execute(sa.text(f"DROP TABLE IF EXISTS {_q(table_name)} CASCADE"))


# --- comparison shared with `radiator db check` -------------------------------------------------


@dataclass(frozen=True)
class IndexShape:
    """What makes two indexes interchangeable: columns in order, uniqueness, access method."""

    columns: tuple[str, ...]
    unique: bool
    method: str
    predicate: str | None = None

    def __str__(self) -> str:
        kind = "unique " if self.unique else ""
        where = f" WHERE {self.predicate}" if self.predicate else ""
        return f"{kind}{self.method} ({', '.join(self.columns)}){where}"


def declared_index_shape(index: sa.Index) -> IndexShape:
    options = index.dialect_options["postgresql"]
    if (
        options["where"] is not None
        or options["include"]
        or len(index.expressions) != len(index.columns)
    ):
        raise NotImplementedError(
            f"index {index.name}: partial, covering and expression indexes are not handled by "
            "migration_ops; create them with explicit op.execute() statements"
        )
    return IndexShape(
        columns=tuple(c.name for c in index.columns),
        unique=bool(index.unique),
        method=str(options["using"] or "btree"),
    )


def reflected_index_shape(index: dict[str, Any]) -> IndexShape:
    options = index.get("dialect_options", {})
    return IndexShape(
        columns=tuple(str(c) for c in index["column_names"]),
        unique=bool(index.get("unique")),
        method=str(options.get("postgresql_using", "btree")),
        predicate=options.get("postgresql_where"),
    )


def key_differences(bind: sa.Connection, metadata: sa.MetaData) -> list[tuple[str, str]]:
    """What autogenerate does not compare: primary keys, and index methods and predicates.

    Returns (kind, detail) pairs for the tables of `metadata` that exist.
    """
    insp = sa.inspect(bind)
    names = [t for t in metadata.tables if t in set(insp.get_table_names())]
    if not names:
        return []
    pks = {t: pk for (_, t), pk in insp.get_multi_pk_constraint(filter_names=names).items()}
    indexes = {t: ixs for (_, t), ixs in insp.get_multi_indexes(filter_names=names).items()}
    found: list[tuple[str, str]] = []
    for table in (metadata.tables[t] for t in names):
        want = [c.name for c in table.primary_key.columns]
        pk = pks.get(table.name, {})
        have = list(pk.get("constrained_columns") or [])
        if want and (have != want or pk.get("name") != table.primary_key.name):
            found.append(
                (
                    "modify_primary_key",
                    f"{table.name}: {_pk_text(pk.get('name'), have)} -> "
                    f"{_pk_text(table.primary_key.name, want)}",
                )
            )
        live_indexes = {ix["name"]: ix for ix in indexes.get(table.name, [])}
        for index in table.indexes:
            live = live_indexes.get(index.name)
            if live is None:
                continue  # autogenerate reports the missing index
            shape, live_shape = declared_index_shape(index), reflected_index_shape(live)
            if shape != live_shape:
                found.append(("modify_index", f"{index.name}: {live_shape} -> {shape}"))
    return found


def _pk_text(name: str | None, columns: Sequence[str]) -> str:
    return f"{name} ({', '.join(columns)})" if columns else "no primary key"


# --- the work ------------------------------------------------------------------------------------


def _ensure(tables: Sequence[sa.Table], *, partial: bool) -> None:
    """Create missing tables and align existing ones; foreign keys of existing tables last.

    `partial`: the tables declare only some of their columns (and stubs, typed NullType,
    for the columns their indexes and constraints name); they must exist already.
    """
    bind = _bind()
    live = set(sa.inspect(bind).get_table_names())
    existing = [t for t in tables if t.name in live]
    missing = [t for t in tables if t.name not in live]
    if partial and missing:
        names = ", ".join(t.name for t in missing)
        raise DriftError(
            f"table {names} does not exist, but this revision changes it: an earlier revision "
            "created it and it has been dropped since. Restore it from a backup, or drop the "
            "alembic_version table so that every revision runs again."
        )
    column_diffs = _column_differences(existing, partial=partial)
    snapshot = _Live([t.name for t in existing])
    for table in tables:
        if table.name in live:
            _align_columns(table, column_diffs.get(table.name, []))
            if not partial:
                _ensure_primary_key(table, snapshot)
            _ensure_uniques(table, snapshot)
            _ensure_indexes(table, snapshot)
        else:
            _create_table(table)
    for table in existing:
        _ensure_foreign_keys(table, snapshot)


def _bind() -> sa.Connection:
    if op.get_context().as_sql:
        raise RuntimeError(
            "migration_ops reads the live schema: offline (--sql) migrations are not supported"
        )
    return op.get_bind()


def _q(name: str) -> str:
    return op.get_bind().dialect.identifier_preparer.quote(name)


def _scalar(sql: str) -> Any:
    return _bind().scalar(sa.text(sql))


@contextmanager
def _step(what: str) -> Iterator[None]:
    """Turn the database's refusal into a DriftError saying what was being done."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DriftError(
            f"{what}: the database refused ({reason}). Fix the data or the object by hand and "
            "run the upgrade again (it runs in one transaction: nothing of it is kept)."
        ) from exc


def _stub_table(table_name: str, columns: Iterable[str]) -> sa.Table:
    """A table naming existing columns only (NullType: their definitions are not changed)."""
    return sa.Table(
        table_name,
        revision_metadata(),
        *(sa.Column(c, sa.types.NullType()) for c in dict.fromkeys(columns)),
    )


def _is_stub(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.types.NullType)


def _referred(fk: sa.ForeignKeyConstraint) -> tuple[str, list[str]]:
    """The referred table and columns, from the declaration (the table need not be declared)."""
    targets = [element.target_fullname.rsplit(".", 1) for element in fk.elements]
    return targets[0][0], [column for _, column in targets]


def _dependency_order(tables: list[sa.Table]) -> list[sa.Table]:
    """Referred tables before the tables referring to them (declared order otherwise)."""
    by_name = {t.name: t for t in tables}
    ordered: list[sa.Table] = []
    done: set[str] = set()

    def visit(table: sa.Table, path: set[str]) -> None:
        if table.name in done or table.name in path:
            return
        path.add(table.name)
        for fk in table.foreign_key_constraints:
            referred = by_name.get(_referred(fk)[0])
            if referred is not None:
                visit(referred, path)
        done.add(table.name)
        ordered.append(table)

    for table in tables:
        visit(table, set())
    return ordered


def _create_table(table: sa.Table) -> None:
    with _step(f"creating table {table.name}"):
        op.invoke(alembic_ops.CreateTableOp.from_table(table))
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            declared_index_shape(index)  # refuses what it cannot compare later
            op.invoke(alembic_ops.CreateIndexOp.from_index(index))


# columns


def _bare_column(column: sa.Column[Any]) -> sa.Column[Any]:
    """A copy of a column's own definition: type, nullability, default or identity, comment."""
    if column.computed is not None:
        raise NotImplementedError(f"column {column.name}: computed columns are not handled")
    args: list[sa.schema.SchemaItem] = []
    if column.identity is not None:
        options = {name: getattr(column.identity, name) for name in IDENTITY_OPTIONS}
        args.append(sa.Identity(**options))
    default = column.server_default
    return sa.Column(
        column.name,
        column.type,
        *args,
        nullable=column.nullable,
        server_default=default.arg if isinstance(default, sa.DefaultClause) else None,
        comment=column.comment,
    )


@contextmanager
def _quiet_autogenerate() -> Iterator[None]:
    # The comparison logs its set-up and every difference it finds at INFO, the extra columns
    # of a user too; what the repair does is logged below instead.
    names = ("alembic.autogenerate", "alembic.runtime.plugins", "alembic.runtime.migration")
    loggers = [logging.getLogger(n) for n in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _column_differences(tables: Sequence[sa.Table], *, partial: bool) -> dict[str, list[Any]]:
    """Autogenerate's column (and table comment) differences of existing tables, by table."""
    tables = [t for t in tables if any(not _is_stub(c) for c in t.columns)]
    if not tables:
        return {}
    compared = revision_metadata()
    for table in tables:
        sa.Table(
            table.name,
            compared,
            *(_bare_column(c) for c in table.columns if not _is_stub(c)),
            comment=table.comment,
        )
    names = set(compared.tables)

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or name in names

    with _quiet_autogenerate():
        context = MigrationContext.configure(
            connection=_bind(),
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": include_name,
            },
        )
        diffs = compare_metadata(context, compared)
    by_table: dict[str, list[Any]] = defaultdict(list)
    for diff in diffs:
        for item in diff if isinstance(diff, list) else [diff]:
            kind = item[0]
            if kind == "remove_column" and partial:
                continue  # a partial declaration names only the columns it changes
            if kind in ("add_column", "remove_column") or kind.startswith("modify_"):
                by_table[str(item[2])].append(item)
            elif kind in ("add_table_comment", "remove_table_comment") and not partial:
                by_table[str(item[1].name)].append(item)
    return by_table


def _align_columns(table: sa.Table, diffs: list[Any]) -> None:
    added: list[sa.Column[Any]] = []
    changes: dict[str, dict[str, Any]] = defaultdict(dict)
    for diff in diffs:
        kind = diff[0]
        if kind == "add_column":
            added.append(diff[3])
        elif kind == "remove_column":
            log.info("%s.%s is not ours: kept", table.name, diff[3].name)
        elif kind == "add_table_comment":
            with _step(f"setting the comment of table {table.name}"):
                op.create_table_comment(table.name, diff[1].comment)
        elif kind == "remove_table_comment":
            with _step(f"removing the comment of table {table.name}"):
                op.drop_table_comment(table.name)
        else:  # modify_type / modify_nullable / modify_default / modify_comment
            _, _, _, column_name, existing, old, new = diff
            changes[column_name]["existing"] = existing
            changes[column_name][kind] = (old, new)
    if added:
        _add_missing_columns(table.name, added)
    live = {c["name"]: c for c in sa.inspect(_bind()).get_columns(table.name)} if changes else {}
    for column_name, change in changes.items():
        _align_column(table, table.c[column_name], live[column_name], change)


def _add_missing_columns(table_name: str, columns: list[sa.Column[Any]]) -> None:
    # NOT NULL without a default or identity: the rows there are would need a value.
    needs_value = [c.name for c in columns if not c.nullable and c.server_default is None]
    rows = _scalar(f"SELECT count(*) FROM {_q(table_name)}") if needs_value else 0
    if rows:
        which = ", ".join(f"{table_name}.{n}" for n in needs_value)
        first = needs_value[0]
        raise DriftError(
            f"cannot add column(s) {which}: NOT NULL without a default, and {table_name} has "
            f"{rows} row(s) that would need a value this revision does not give. Add the "
            f"column(s) yourself and fill them (ALTER TABLE {table_name} ADD COLUMN {first} ...; "
            f"UPDATE {table_name} SET {first} = ...), or empty the table, then run the upgrade "
            f"again."
        )
    for column in columns:
        log.info("%s: adding column %s", table_name, column.name)
        with _step(f"adding column {table_name}.{column.name}"):
            op.add_column(table_name, column)


def _conversion(
    name: str, existing: sa.types.TypeEngine[Any], wanted: sa.types.TypeEngine[Any], sql: str
) -> str:
    """The USING expression of a type change. A timestamp without a zone becoming one with
    a zone is read as UTC, the warehouse's time (a plain cast would read it in the session's
    zone and shift every value by it)."""
    naive = isinstance(existing, sa.DateTime) and not existing.timezone
    if naive and isinstance(wanted, sa.DateTime) and wanted.timezone:
        return f"{_q(name)} AT TIME ZONE 'UTC'"
    return f"{_q(name)}::{sql}"


def _align_column(
    table: sa.Table, column: sa.Column[Any], live: dict[str, Any], change: dict[str, Any]
) -> None:
    name, table_name = column.name, table.name
    where = f"{table_name}.{name}"
    existing = change["existing"]
    existing_type = (change.get("modify_type") or (existing.get("existing_type"),))[0]
    live_default = live.get("default")  # the SQL text (a serial's nextval too), or None
    live_identity = live.get("identity")
    if "modify_type" in change:
        wanted = column.type.compile(dialect=_bind().dialect)
        log.warning("%s: converting %s to %s", where, existing_type, wanted)
        if live_default is not None and live_identity is None and column.identity is None:
            # A default of the old type may not convert; the declared one is set below.
            # (A serial's default, on its way to an identity, converts and goes below.)
            with _step(f"dropping the default of {where} before converting it"):
                op.alter_column(table_name, name, server_default=None)
            live_default = None
            change.setdefault("modify_default", (None, column.server_default))
        with _step(f"converting {where} from {existing_type} to {wanted}"):
            op.alter_column(
                table_name,
                name,
                type_=column.type,
                existing_type=existing_type,
                postgresql_using=_conversion(name, existing_type, column.type, wanted),
            )
    needs_not_null = not column.nullable and (
        "modify_nullable" in change
        or (column.identity is not None and live_identity is None and live["nullable"])
    )
    if needs_not_null:
        nulls = _scalar(f"SELECT count(*) FROM {_q(table_name)} WHERE {_q(name)} IS NULL")
        if nulls:
            total = _scalar(f"SELECT count(*) FROM {_q(table_name)}")
            raise DriftError(
                f"cannot make {where} NOT NULL: {nulls} of the {total} row(s) of {table_name} "
                f"hold NULL there and this revision does not say what they should hold. Set a "
                f"value (UPDATE {table_name} SET {name} = ... WHERE {name} IS NULL) or delete "
                f"those rows, then run the upgrade again."
            )
        log.warning("%s: setting NOT NULL", where)
        with _step(f"making {where} NOT NULL"):
            op.alter_column(table_name, name, nullable=False, existing_type=column.type)
    elif "modify_nullable" in change:
        log.warning("%s: allowing NULL", where)
        with _step(f"allowing NULL in {where}"):
            op.alter_column(table_name, name, nullable=True, existing_type=column.type)
    if "modify_default" in change:
        _align_default(table_name, column, live_default, live_identity)
    if "modify_comment" in change:
        with _step(f"setting the comment of {where}"):
            op.alter_column(
                table_name,
                name,
                comment=column.comment,
                existing_comment=existing.get("existing_comment"),
                existing_type=column.type,
            )


def _align_default(
    table_name: str,
    column: sa.Column[Any],
    live_default: str | None,
    live_identity: dict[str, Any] | None,
) -> None:
    name = column.name
    where = f"{table_name}.{name}"
    wanted = column.server_default
    if column.identity is None and (wanted is None or isinstance(wanted, sa.DefaultClause)):
        if live_identity is not None:
            with _step(f"dropping the identity of {where}"):
                op.alter_column(
                    table_name,
                    name,
                    server_default=None,
                    existing_server_default=_live_identity(live_identity),
                )
        log.warning("%s: setting the default", where)
        with _step(f"setting the default of {where}"):
            op.alter_column(
                table_name,
                name,
                server_default=wanted.arg if wanted is not None else None,
                existing_type=column.type,
            )
        return
    identity = sa.Identity(**{o: getattr(column.identity, o) for o in IDENTITY_OPTIONS})
    if live_identity is not None:
        log.warning("%s: changing the identity's options", where)
        with _step(f"changing the identity of {where}"):
            op.alter_column(
                table_name,
                name,
                server_default=identity,
                existing_server_default=_live_identity(live_identity),
            )
        return
    log.warning("%s: making it an identity column", where)
    with _step(f"making {where} an identity column"):
        if live_default is not None:
            # A serial (or any default): the identity replaces it, and a serial's own
            # sequence (owned by the column, used by nothing else) goes with it.
            sequence = _scalar(f"SELECT pg_get_serial_sequence('{_q(table_name)}', '{name}')")
            op.alter_column(table_name, name, server_default=None, existing_type=column.type)
            if sequence is not None:
                op.execute(sa.text(f"DROP SEQUENCE IF EXISTS {sequence}"))
        op.alter_column(table_name, name, server_default=identity, existing_server_default=None)
        # Rows already hold values: the identity continues after the highest one.
        op.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{_q(table_name)}', '{name}'), "
                f"coalesce(max({_q(name)}), 0) + 1, false) FROM {_q(table_name)}"
            )
        )


def _live_identity(reflected: dict[str, Any]) -> sa.Identity:
    return sa.Identity(**{k: v for k, v in reflected.items() if k in IDENTITY_OPTIONS})


# keys, constraints, indexes


class _Live:
    """Live keys, constraints and indexes of some tables: read in bulk, re-read after a change."""

    def __init__(self, table_names: Sequence[str]) -> None:
        self._pk: dict[str, Any] = {}
        self._uniques: dict[str, list[Any]] = {}
        self._indexes: dict[str, list[Any]] = {}
        self._fks: dict[str, list[Any]] = {}
        self._stale: set[str] = set()
        if table_names:
            self._read(table_names)

    def _read(self, table_names: Sequence[str]) -> None:
        insp = sa.inspect(_bind())
        names = list(table_names)
        for (_, t), pk in insp.get_multi_pk_constraint(filter_names=names).items():
            self._pk[t] = pk
        for (_, t), uniques in insp.get_multi_unique_constraints(filter_names=names).items():
            self._uniques[t] = list(uniques)
        for (_, t), indexes in insp.get_multi_indexes(filter_names=names).items():
            self._indexes[t] = list(indexes)
        for (_, t), fks in insp.get_multi_foreign_keys(filter_names=names).items():
            self._fks[t] = list(fks)

    def _fresh(self, table_name: str) -> None:
        if table_name in self._stale:
            self._stale.discard(table_name)
            self._read([table_name])

    def primary_key(self, table_name: str) -> Any:
        self._fresh(table_name)
        return self._pk.get(table_name, {})

    def uniques(self, table_name: str) -> list[Any]:
        self._fresh(table_name)
        return self._uniques.get(table_name, [])

    def indexes(self, table_name: str) -> list[Any]:
        self._fresh(table_name)
        return self._indexes.get(table_name, [])

    def foreign_keys(self, table_name: str) -> list[Any]:
        self._fresh(table_name)
        return self._fks.get(table_name, [])

    @contextmanager
    def changing(self, table_name: str, what: str) -> Iterator[None]:
        """A change of the table (see `_step`), after which it is read again."""
        try:
            with _step(what):
                yield
        finally:
            self._stale.add(table_name)


def _our_names(table: sa.Table) -> set[str]:
    names = {str(ix.name) for ix in table.indexes}
    names.update(str(c.name) for c in table.constraints if c.name)
    return names


def _check_unique(table_name: str, columns: Sequence[str], what: str) -> None:
    cols = ", ".join(_q(c) for c in columns)
    not_null = " AND ".join(f"{_q(c)} IS NOT NULL" for c in columns)
    duplicated = _scalar(
        f"SELECT count(*) FROM (SELECT 1 FROM {_q(table_name)} WHERE {not_null} "
        f"GROUP BY {cols} HAVING count(*) > 1) AS d"
    )
    if duplicated:
        raise DriftError(
            f"cannot create {what} on {table_name} ({', '.join(columns)}): {duplicated} "
            f"value(s) occur in more than one row. Remove or change the duplicate rows, then "
            f"run the upgrade again."
        )


def _ensure_primary_key(table: sa.Table, live: _Live) -> None:
    wanted = table.primary_key
    columns = [c.name for c in wanted.columns]
    if not columns:
        return
    name = str(wanted.name)
    pk = live.primary_key(table.name)
    live_columns = list(pk.get("constrained_columns") or [])
    if live_columns == columns:
        if pk.get("name") != name:
            _rename_constraint(live, table.name, str(pk["name"]), name)
        return
    if live_columns:
        log.warning("%s: replacing primary key %s %s", table.name, pk["name"], live_columns)
        with live.changing(table.name, f"dropping primary key {pk['name']} of {table.name}"):
            op.drop_constraint(str(pk["name"]), table.name, type_="primary")
    _check_unique(table.name, columns, f"primary key {name}")
    log.info("%s: adding primary key %s", table.name, name)
    with live.changing(table.name, f"adding primary key {name} to {table.name}"):
        op.invoke(alembic_ops.CreatePrimaryKeyOp.from_constraint(wanted))


def _rename_constraint(live: _Live, table_name: str, old: str, new: str) -> None:
    log.warning("%s: constraint %s renamed to %s", table_name, old, new)
    with live.changing(table_name, f"renaming constraint {old} of {table_name} to {new}"):
        op.execute(
            sa.text(f"ALTER TABLE {_q(table_name)} RENAME CONSTRAINT {_q(old)} TO {_q(new)}")
        )


def _rename_index(live: _Live, table_name: str, old: str, new: str) -> None:
    log.warning("%s: index %s renamed to %s", table_name, old, new)
    with live.changing(table_name, f"renaming index {old} of {table_name} to {new}"):
        op.execute(sa.text(f"ALTER INDEX {_q(old)} RENAME TO {_q(new)}"))


def _drop_index_named(live: _Live, table_name: str, index: dict[str, Any]) -> None:
    """Drop an index that holds one of our names but not our definition (an index holds no data)."""
    name = str(index["name"])
    log.warning("%s: index %s is not what its name says; replacing it", table_name, name)
    with live.changing(table_name, f"dropping index {name} of {table_name}"):
        if index.get("duplicates_constraint"):
            op.drop_constraint(str(index["duplicates_constraint"]), table_name, type_="unique")
        else:
            op.drop_index(name, table_name=table_name)


def _ensure_uniques(table: sa.Table, live: _Live) -> None:
    ours = _our_names(table)
    for constraint in table.constraints:
        if not isinstance(constraint, sa.UniqueConstraint):
            continue
        name = str(constraint.name)
        columns = tuple(c.name for c in constraint.columns)
        shape = IndexShape(columns, unique=True, method="btree")
        constraints = {
            str(uc["name"]): tuple(uc["column_names"]) for uc in live.uniques(table.name)
        }
        indexes = [ix for ix in live.indexes(table.name) if not ix.get("duplicates_constraint")]
        if name in constraints:
            if constraints[name] == columns:
                continue
            log.warning(
                "%s: unique constraint %s is on %s; replacing it",
                table.name,
                name,
                constraints[name],
            )
            with live.changing(table.name, f"dropping unique constraint {name} of {table.name}"):
                op.drop_constraint(name, table.name, type_="unique")
        named_index = next((ix for ix in indexes if ix["name"] == name), None)
        if named_index is not None and reflected_index_shape(named_index) != shape:
            _drop_index_named(live, table.name, named_index)
            named_index = None
        same = [n for n, cols in constraints.items() if cols == columns and n not in ours]
        if same:
            _rename_constraint(live, table.name, same[0], name)
            continue
        equivalent = named_index or next(
            (
                ix
                for ix in indexes
                if reflected_index_shape(ix) == shape and str(ix["name"]) not in ours
            ),
            None,
        )
        if equivalent is not None:
            # A hand-made unique index becomes the constraint (PostgreSQL renames it).
            log.warning(
                "%s: unique index %s becomes constraint %s", table.name, equivalent["name"], name
            )
            with live.changing(
                table.name, f"turning index {equivalent['name']} into constraint {name}"
            ):
                op.execute(
                    sa.text(
                        f"ALTER TABLE {_q(table.name)} ADD CONSTRAINT {_q(name)} "
                        f"UNIQUE USING INDEX {_q(str(equivalent['name']))}"
                    )
                )
            continue
        _check_unique(table.name, columns, f"unique constraint {name}")
        log.info("%s: adding unique constraint %s", table.name, name)
        with live.changing(table.name, f"adding unique constraint {name} to {table.name}"):
            op.invoke(alembic_ops.AddConstraintOp.from_constraint(constraint))


def _ensure_indexes(table: sa.Table, live: _Live) -> None:
    ours = _our_names(table)
    for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
        name = str(index.name)
        shape = declared_index_shape(index)
        indexes = live.indexes(table.name)
        named = next((ix for ix in indexes if ix["name"] == name), None)
        if named is not None:
            if reflected_index_shape(named) == shape and not named.get("duplicates_constraint"):
                continue
            _drop_index_named(live, table.name, named)
        same = next(
            (
                ix
                for ix in indexes
                if str(ix["name"]) not in ours
                and not ix.get("duplicates_constraint")
                and reflected_index_shape(ix) == shape
            ),
            None,
        )
        if same is not None:
            _rename_index(live, table.name, str(same["name"]), name)
            continue
        if shape.unique:
            _check_unique(table.name, shape.columns, f"unique index {name}")
        log.info("%s: adding index %s", table.name, name)
        with live.changing(table.name, f"creating index {name} on {table.name}"):
            op.invoke(alembic_ops.CreateIndexOp.from_index(index))


def _fk_rules(options: dict[str, Any]) -> tuple[str, str, bool, str]:
    def rule(value: Any) -> str:
        return str(value or "NO ACTION").upper()

    return (
        rule(options.get("ondelete")),
        rule(options.get("onupdate")),
        bool(options.get("deferrable")),
        str(options.get("initially") or "IMMEDIATE").upper(),
    )


def _ensure_foreign_keys(table: sa.Table, live: _Live) -> None:
    ours = _our_names(table)
    for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
        name = str(fk.name)
        columns = list(fk.column_keys)
        referred_table, referred_columns = _referred(fk)
        rules = _fk_rules(
            {
                "ondelete": fk.ondelete,
                "onupdate": fk.onupdate,
                "deferrable": fk.deferrable,
                "initially": fk.initially,
            }
        )
        fks = live.foreign_keys(table.name)
        link = (tuple(columns), referred_table, tuple(referred_columns))
        named = next((f for f in fks if f["name"] == name), None)
        if named is not None:
            if _link(named) == link and _fk_rules(named.get("options", {})) == rules:
                continue
            log.warning(
                "%s: foreign key %s is not what its name says; replacing it", table.name, name
            )
            with live.changing(table.name, f"dropping foreign key {name} of {table.name}"):
                op.drop_constraint(name, table.name, type_="foreignkey")
        hand_made = next(
            (f for f in fks if f["name"] not in ours and f["name"] != name and _link(f) == link),
            None,
        )
        if hand_made is not None:
            if _fk_rules(hand_made.get("options", {})) == rules:
                _rename_constraint(live, table.name, str(hand_made["name"]), name)
                continue
            log.warning(
                "%s: foreign key %s has other rules than %s; replacing it",
                table.name,
                hand_made["name"],
                name,
            )
            with live.changing(
                table.name, f"dropping foreign key {hand_made['name']} of {table.name}"
            ):
                op.drop_constraint(str(hand_made["name"]), table.name, type_="foreignkey")
        _check_references(table.name, columns, referred_table, referred_columns, name)
        log.info("%s: adding foreign key %s", table.name, name)
        with live.changing(table.name, f"adding foreign key {name} to {table.name}"):
            op.create_foreign_key(
                name,
                table.name,
                referred_table,
                columns,
                referred_columns,
                ondelete=fk.ondelete,
                onupdate=fk.onupdate,
                deferrable=fk.deferrable,
                initially=fk.initially,
                match=fk.match,
            )


def _link(reflected: dict[str, Any]) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    return (
        tuple(reflected["constrained_columns"]),
        str(reflected["referred_table"]),
        tuple(reflected["referred_columns"]),
    )


def _check_references(
    table_name: str,
    columns: Sequence[str],
    referred_table: str,
    referred_columns: Sequence[str],
    name: str,
) -> None:
    matches = " AND ".join(
        f"r.{_q(rc)} = t.{_q(c)}" for c, rc in zip(columns, referred_columns, strict=True)
    )
    not_null = " AND ".join(f"t.{_q(c)} IS NOT NULL" for c in columns)
    orphans = _scalar(
        f"SELECT count(*) FROM {_q(table_name)} AS t WHERE {not_null} AND NOT EXISTS "
        f"(SELECT 1 FROM {_q(referred_table)} AS r WHERE {matches})"
    )
    if orphans:
        raise DriftError(
            f"cannot add foreign key {name}: {orphans} row(s) of {table_name} refer through "
            f"({', '.join(columns)}) to no row of {referred_table}. Delete those rows or add "
            f"what they refer to, then run the upgrade again."
        )
