"""Calling a write-path function the way the assets do: through a writer holding the sync lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import Engine

from radiator_assets.sync.locking import SyncWriter, sync_lock

P = ParamSpec("P")
R = TypeVar("R")


def locked(
    write: Callable[Concatenate[SyncWriter, P], R],
    engine: Engine,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """`write(writer, *args, **kwargs)` under the sync lock taken on `engine`."""
    with sync_lock(engine) as writer:
        return write(writer, *args, **kwargs)
