"""Running Alembic from the application, and comparing the live schema with the models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from alembic import command
from radiator_assets.storage.migration_ops import key_differences
from radiator_assets.storage.models import Base

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, bound to `connection` when given."""
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["configure_logging"] = False
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` in one transaction."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None, "alembic/versions holds no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_migrated(engine: Engine) -> bool:
    """Upgrade to head unless already there; True when migrations ran."""
    if current_revision(engine) == head_revision():
        return False
    upgrade(engine)
    return True


@dataclass(frozen=True)
class SchemaDifference:
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def _shown(value: Any) -> str:
    """A column attribute as `radiator db check` prints it (a default as its SQL)."""
    arg = getattr(value, "arg", None)
    if arg is not None:
        return str(getattr(arg, "text", arg))
    if isinstance(value, sa.Identity):
        return "identity" + (" always" if value.always else "")
    return str(value)


def _describe(diff: object) -> list[SchemaDifference]:
    # Alembic reports a tuple per change, or a list of tuples for column modifications.
    items = diff if isinstance(diff, list) else [diff]
    found = []
    for item in items:
        assert isinstance(item, tuple)
        kind = str(item[0])
        if kind.startswith("modify_") and len(item) == 7:
            _, _, table, column, _, old, new = item
            found.append(
                SchemaDifference(kind, f"{table}.{column}: {_shown(old)} -> {_shown(new)}")
            )
            continue
        rest = ", ".join(str(getattr(p, "name", p)) for p in item[1:] if p is not None)
        found.append(SchemaDifference(kind, rest))
    return found


OWNED_PREFIXES = ("tracker_", "report_")
#: indexes a migration makes with explicit SQL because the models cannot declare them for
#: the comparison (partial and covering: `migration_ops.declared_index_shape`); left out
#: of it. Revision 0009: the open stays, read index-only by status activity.
HAND_MADE_INDEXES = frozenset({"ix_tracker_task_history_open"})


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Compare only the warehouse's own tables (a Dagster instance may share the database),
    without the hand-made indexes (`HAND_MADE_INDEXES`)."""
    if type_ == "table" and reflected and compare_to is None:
        return bool(name) and str(name).startswith(OWNED_PREFIXES)
    return not (type_ == "index" and name in HAND_MADE_INDEXES)


# What `alembic check` (alembic/env.py) and `radiator db check` compare besides tables,
# columns, indexes and constraints: types, and server defaults (an identity among them).
COMPARE_OPTIONS: dict[str, Any] = {
    "compare_type": True,
    "compare_server_default": True,
    "include_object": include_object,
}


@contextmanager
def _connected(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as conn:
        yield conn


def schema_differences(bind: Engine | Connection) -> list[SchemaDifference]:
    """Every difference between the live database and the models (empty when in sync).

    Autogenerate's comparison, plus what it leaves out: primary keys and index methods.
    A connection is used as it is (inside its transaction, if any).
    """
    with _connected(bind) as conn:
        context = MigrationContext.configure(conn, opts=COMPARE_OPTIONS)
        found = [d for diff in compare_metadata(context, Base.metadata) for d in _describe(diff)]
        found += [SchemaDifference(k, d) for k, d in key_differences(conn, Base.metadata)]
        return found
