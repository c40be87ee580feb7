"""Running Alembic from the application, and comparing the live schema with the models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from alembic import command
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


def _describe(diff: object) -> SchemaDifference:
    # Alembic reports a tuple per change, or a list of tuples for column modifications.
    if isinstance(diff, list):
        diff = diff[0]
    assert isinstance(diff, tuple)
    kind = str(diff[0])
    rest = ", ".join(str(getattr(p, "name", p)) for p in diff[1:] if p is not None)
    return SchemaDifference(kind, rest)


OWNED_PREFIXES = ("tracker_", "report_")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Compare only the warehouse's own tables: a Dagster instance may share the database."""
    if type_ == "table" and reflected and compare_to is None:
        return bool(name) and str(name).startswith(OWNED_PREFIXES)
    return True


def schema_differences(engine: Engine) -> list[SchemaDifference]:
    """Every difference between the live database and the models (empty when in sync)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        return [_describe(d) for d in compare_metadata(context, Base.metadata)]
