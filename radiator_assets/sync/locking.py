"""Only one sync writes at a time, and it writes through the connection that holds the lock.

A PostgreSQL session advisory lock serialises syncs from every source (sensor
runs, the CLI, scripts), whatever the Dagster pool configuration. The lock
lives on one connection, and every write of the sync goes through that same
connection (`SyncWriter.transaction`): if the connection dies (killed with
`pg_terminate_backend`, dropped by an idle timeout or a network cut), the lock
goes with it and so does the writer's next statement, which fails with
`SyncLockLost` instead of writing unlocked next to a second sync. A killed
run never leaves the lock behind either (the predecessor's file lock did).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

SYNC_LOCK_ID = 7_202_613


class SyncLockTimeout(RuntimeError):
    """Another sync held the lock for longer than we were willing to wait."""


class SyncLockLost(RuntimeError):
    """The connection holding the sync lock is gone; nothing more was written."""


@dataclass
class SyncWriter:
    """The one connection a sync writes through, holding the sync lock.

    `engine` is there for reads on other connections (they need no lock).
    """

    engine: Engine
    conn: Connection
    waited_seconds: float = 0.0

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One unit of work on the lock's connection: committed when the block ends,
        rolled back and re-raised when it fails; `SyncLockLost` when the connection died."""
        try:
            with self.conn.begin():
                yield self.conn
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated or self.conn.invalidated:
                raise SyncLockLost(
                    "the database connection holding the sync lock was closed "
                    f"({type(exc.orig).__name__}); this sync stopped writing so that it "
                    "never writes unlocked next to another one: run it again"
                ) from exc
            raise


@contextmanager
def lock_if_free(engine: Engine) -> Iterator[SyncWriter | None]:
    """The sync lock if nobody holds it (None otherwise), without waiting."""
    with engine.connect() as conn:
        if not _try_lock(conn):
            yield None
            return
        try:
            yield SyncWriter(engine, conn)
        finally:
            _unlock(conn)


def _try_lock(conn: Connection) -> bool:
    locked = bool(conn.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": SYNC_LOCK_ID}))
    conn.commit()
    return locked


@contextmanager
def sync_lock(
    engine: Engine, *, wait_seconds: float = 3600.0, poll_seconds: float = 0.5
) -> Iterator[SyncWriter]:
    """Hold the sync lock for the block; yields the writer that owns it."""
    started = time.monotonic()
    with engine.connect() as conn:
        logged = False
        while not _try_lock(conn):
            if not logged:
                log.warning("another sync is writing; waiting for it to finish")
                logged = True
            if time.monotonic() - started > wait_seconds:
                raise SyncLockTimeout(
                    f"another sync held the write lock for over {wait_seconds:.0f} s"
                )
            time.sleep(poll_seconds)
        waited = time.monotonic() - started
        if logged:
            log.info("sync lock acquired after %.1f s", waited)
        try:
            yield SyncWriter(engine, conn, waited)
        finally:
            _unlock(conn)


def _unlock(conn: Connection) -> None:
    if conn.invalidated:
        return  # a connection that died took the lock with it
    with suppress(sa.exc.DBAPIError):
        if conn.in_transaction():
            conn.rollback()
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": SYNC_LOCK_ID})
        conn.commit()
