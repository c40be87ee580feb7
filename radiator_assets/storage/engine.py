"""Which database to use, and the engine that talks to it.

One function decides the URL for the app, Alembic and the tests alike:
`RADIATOR_DATABASE_URL` when set, otherwise the embedded server under
`$RADIATOR_HOME/pgdata`. The project speaks psycopg2 only (the driver
`dagster-postgres` brings), so every URL is normalised to spell it out: a bare
`postgresql://` would mean psycopg 3 to SQLAlchemy 2.1, and `postgres://`
nothing at all.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from radiator_assets.settings import Settings, get_settings
from radiator_assets.storage import embedded
from radiator_assets.storage.bulk import serialise_json
from radiator_assets.storage.unit_of_work import install_error_logging

log = logging.getLogger(__name__)

DRIVER = "postgresql+psycopg2"


class DatabaseURLError(ValueError):
    """`RADIATOR_DATABASE_URL` is not a PostgreSQL URL (the message never repeats it)."""


#: URL schemes that mean PostgreSQL here (all spoken through psycopg2)
POSTGRES_BACKENDS = ("postgresql", "postgres")
URL_EXAMPLE = "postgresql://user:password@host:5432/radiator"


def _authority(raw: str) -> str:
    """`user:password@host:port` of a URL string (what lies between `://` and the path)."""
    rest = raw.split("://", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0]


def normalise_url(raw: str | URL) -> URL:
    """Spell the psycopg2 driver out; reject anything that is not PostgreSQL.

    `postgres://` (as Heroku and many tools write it), `postgresql://` and
    `postgresql+<driver>://` all become `postgresql+psycopg2://`. Errors never
    repeat the URL: it may hold a password."""
    if isinstance(raw, str) and _authority(raw).count("@") > 1:
        # `user:pa@ss@host`: the part after the first @ would be read as the host, and
        # shown in messages with the password hidden, but not that tail of it.
        raise DatabaseURLError(
            "RADIATOR_DATABASE_URL has more than one @ before the host: percent-encode an @ "
            "in the user or password as %40"
        )
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise DatabaseURLError(
            f"RADIATOR_DATABASE_URL is not a database URL: write it like {URL_EXAMPLE}"
        ) from None
    if url.get_backend_name() not in POSTGRES_BACKENDS:
        raise DatabaseURLError(
            f"RADIATOR_DATABASE_URL must be a PostgreSQL URL ({URL_EXAMPLE}), "
            f"not a {url.get_backend_name()!r} one"
        )
    return url.set(drivername=DRIVER)


def _embedded_url(settings: Settings) -> URL:
    maintenance = make_url(embedded.ensure_server(settings.pgdata_dir))
    url = normalise_url(maintenance)
    ensure_database(url.set(database="postgres"), embedded.DATABASE_NAME)
    return url.set(database=embedded.DATABASE_NAME)


_CREATE_DATABASE_LOCK = 7_202_612  # advisory lock id serialising CREATE DATABASE


def ensure_database(maintenance_url: URL, name: str) -> None:
    """Create database `name` on the server if it is missing.

    Processes starting together (Dagster steps) serialise on an advisory lock,
    so exactly one of them creates it.
    """
    engine = sa.create_engine(maintenance_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _CREATE_DATABASE_LOCK})
            try:
                exists = conn.scalar(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                )
                if not exists:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _CREATE_DATABASE_LOCK})
    finally:
        engine.dispose()


def resolve_database_url(settings: Settings | None = None) -> URL:
    """The warehouse URL: the configured server, or the embedded one (started on demand)."""
    settings = settings or get_settings()
    if settings.database_url is not None:
        return normalise_url(settings.database_url.get_secret_value())
    return _embedded_url(settings)


def display_url(url: URL) -> str:
    """The URL with its password hidden, fit for logs, metadata and `radiator db url`."""
    return url.render_as_string(hide_password=True)


def create_engine(url: URL) -> Engine:
    """An engine whose failing statements are logged with SQL and parameters, and whose
    JSON parameters reuse the text a `SerialisedJson` carries (`bulk.serialise_json`)."""
    engine = sa.create_engine(url, pool_pre_ping=True, future=True, json_serializer=serialise_json)
    install_error_logging(engine)
    return engine


@lru_cache(maxsize=8)
def _engine_for(url_string: str) -> Engine:
    return create_engine(make_url(url_string))


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured warehouse."""
    url = resolve_database_url(settings)
    return _engine_for(url.render_as_string(hide_password=False))
