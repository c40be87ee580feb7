"""Only one sync writes at a time.

A PostgreSQL advisory lock, held on a connection of its own for the whole
write path of an asset, serialises syncs from every source (sensor runs, the
CLI, `radiator sync`), whatever the Dagster pool configuration. The lock dies
with its connection, so a killed run never leaves it behind (the file lock of
the predecessor did).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

SYNC_LOCK_ID = 7_202_613


class SyncLockTimeout(RuntimeError):
    """Another sync held the lock for longer than we were willing to wait."""


@contextmanager
def sync_lock(
    engine: Engine, *, wait_seconds: float = 3600.0, poll_seconds: float = 0.5
) -> Iterator[float]:
    """Hold the sync lock for the block; yields the seconds spent waiting for it."""
    started = time.monotonic()
    with engine.connect() as conn:
        logged = False
        while not conn.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": SYNC_LOCK_ID}):
            conn.commit()
            if not logged:
                log.warning("another sync is writing; waiting for it to finish")
                logged = True
            if time.monotonic() - started > wait_seconds:
                raise SyncLockTimeout(
                    f"another sync held the write lock for over {wait_seconds:.0f} s"
                )
            time.sleep(poll_seconds)
        conn.commit()
        waited = time.monotonic() - started
        if logged:
            log.info("sync lock acquired after %.1f s", waited)
        try:
            yield waited
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": SYNC_LOCK_ID})
            conn.commit()
