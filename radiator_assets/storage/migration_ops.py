"""Drift-tolerant Alembic operations.

The predecessor's migration died with "column already exists" because someone
had added the column by hand. These wrappers look at the live schema first and
do only what is missing, so an upgrade over a partly hand-made schema ends with
exactly the schema the revision describes:

* a table that exists gets its missing columns, constraints and indexes;
* a column that exists with another type is converted;
* an index or unique constraint that exists under another name, on the same
  columns, is renamed rather than duplicated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from alembic import op

log = logging.getLogger("alembic.radiator")


def _inspector() -> sa.Inspector:
    return sa.inspect(op.get_bind())


def _has_table(name: str) -> bool:
    return _inspector().has_table(name)


def _type_sql(type_: sa.types.TypeEngine[Any]) -> str:
    return type_.compile(dialect=op.get_bind().dialect)


def _columns(table: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in _inspector().get_columns(table)}


def create_table(name: str, *elements: sa.schema.SchemaItem, **kw: Any) -> None:
    """`op.create_table`, or, when the table exists, the parts of it that are missing."""
    if not _has_table(name):
        op.create_table(name, *elements, **kw)
        return
    log.warning("table %s exists already; adding what it lacks", name)
    for element in elements:
        if isinstance(element, sa.Column):
            add_column(name, element)
    for element in elements:
        if isinstance(element, sa.UniqueConstraint):
            columns = [c if isinstance(c, str) else c.name for c in element._pending_colargs]  # type: ignore[attr-defined]
            create_unique(str(element.name), name, columns)
        elif isinstance(element, sa.ForeignKeyConstraint):
            _create_foreign_key(name, element)


def add_column(table: str, column: sa.Column[Any]) -> None:
    """Add `column`; when it exists, make its type and nullability what the revision says."""
    existing = _columns(table).get(column.name)
    if existing is None:
        _add_missing_column(table, column)
        return
    log.warning("column %s.%s exists already; aligning it", table, column.name)
    wanted = _type_sql(column.type)
    if _type_sql(existing["type"]) != wanted:
        op.execute(
            sa.text(
                f'ALTER TABLE "{table}" ALTER COLUMN "{column.name}" '
                f'TYPE {wanted} USING "{column.name}"::{wanted}'
            )
        )
    if existing["nullable"] != column.nullable and not column.primary_key:
        op.alter_column(table, column.name, nullable=column.nullable)
    if column.server_default is not None and existing.get("default") is None:
        op.alter_column(table, column.name, server_default=column.server_default.arg)


def _fallback_sql(type_: sa.types.TypeEngine[Any]) -> str:
    """The value rows that predate a NOT NULL column get when it has no default."""
    if isinstance(type_, sa.JSON):
        return "'{}'::jsonb"
    if isinstance(type_, sa.String | sa.Text):
        return "''"
    if isinstance(type_, sa.Integer | sa.Numeric):
        return "0"
    if isinstance(type_, sa.DateTime):
        return "now()"
    raise NotImplementedError(f"no fallback value for {type_!r}")


def _add_missing_column(table: str, column: sa.Column[Any]) -> None:
    """Add a column; a NOT NULL one without default on a populated table is backfilled first."""
    needs_backfill = not column.nullable and column.server_default is None
    if not needs_backfill:
        op.add_column(table, column._copy())
        return
    nullable = column._copy()
    nullable.nullable = True
    op.add_column(table, nullable)
    op.execute(
        sa.text(
            f'UPDATE "{table}" SET "{column.name}" = {_fallback_sql(column.type)} '
            f'WHERE "{column.name}" IS NULL'
        )
    )
    op.alter_column(table, column.name, nullable=False)


def _create_foreign_key(table: str, fk: sa.ForeignKeyConstraint) -> None:
    cols = [c if isinstance(c, str) else c.name for c in fk._col_description]  # type: ignore[attr-defined]
    for existing in _inspector().get_foreign_keys(table):
        if existing["constrained_columns"] == cols:
            return
    element = next(iter(fk.elements))
    ref_table, ref_col = element.target_fullname.split(".")
    op.create_foreign_key(fk.name, table, ref_table, cols, [ref_col], ondelete=fk.ondelete)


def create_unique(name: str, table: str, columns: Sequence[str]) -> None:
    """A unique constraint, reusing one (or a unique index) that covers the same columns."""
    insp = _inspector()
    for uc in insp.get_unique_constraints(table):
        if list(uc["column_names"]) == list(columns):
            if uc["name"] != name:
                op.execute(
                    sa.text(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{uc["name"]}" TO "{name}"')
                )
            return
    for ix in insp.get_indexes(table):
        if ix.get("unique") and list(ix["column_names"]) == list(columns):
            # A hand-made unique index: turn it into the constraint, keeping its data check.
            op.execute(
                sa.text(
                    f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" '
                    f'UNIQUE USING INDEX "{ix["name"]}"'
                )
            )
            return
    op.create_unique_constraint(name, table, list(columns))


def create_index(
    name: str,
    table: str,
    columns: Sequence[str],
    *,
    unique: bool = False,
    postgresql_using: str | None = None,
) -> None:
    """An index, unless one with this name or on the same columns exists (then it is renamed)."""
    for ix in _inspector().get_indexes(table):
        same_columns = list(ix["column_names"]) == list(columns)
        same_kind = bool(ix.get("unique")) == unique
        if ix["name"] == name or (same_columns and same_kind):
            using = ix.get("dialect_options", {}).get("postgresql_using", "btree")
            if postgresql_using and using != postgresql_using:
                continue
            if ix["name"] != name:
                log.warning("index %s on %s%s renamed to %s", ix["name"], table, columns, name)
                op.execute(sa.text(f'ALTER INDEX "{ix["name"]}" RENAME TO "{name}"'))
            return
    kw: dict[str, Any] = {}
    if postgresql_using:
        kw["postgresql_using"] = postgresql_using
    op.create_index(name, table, list(columns), unique=unique, **kw)


def drop_table(name: str) -> None:
    """Drop a table if it exists (downgrades run over drifted databases too)."""
    op.execute(sa.text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
