"""Alembic environment: the same database the application uses.

The URL comes from `radiator_assets.storage.engine.resolve_database_url`
(RADIATOR_DATABASE_URL, or the embedded server), unless a caller hands over a
connection (`config.attributes["connection"]`, used by `radiator db upgrade`
and the tests) or sets `sqlalchemy.url`. Upgrades hold a PostgreSQL advisory
lock so that two processes migrating at once take turns.
"""

from __future__ import annotations

import logging.config

import sqlalchemy as sa

from alembic import context
from radiator_assets.storage.engine import normalise_url, resolve_database_url
from radiator_assets.storage.migrations import COMPARE_OPTIONS
from radiator_assets.storage.models import Base

MIGRATION_LOCK_ID = 7_202_611  # arbitrary, project-wide constant

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _run(connection: sa.engine.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        **COMPARE_OPTIONS,
    )
    with context.begin_transaction():
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_ID})
        context.run_migrations()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or resolve_database_url()
    context.configure(url=normalise_url(url), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or resolve_database_url()
    engine = sa.create_engine(normalise_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
