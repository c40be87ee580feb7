"""A sync that kills its own process after N committed changelog batches (for the kill test).

Run as `python -m radiator_assets_tests.assets.killed_sync N` with the application's
environment pointing at the emulator and the database.
"""

from __future__ import annotations

import os
import sys

from radiator_assets.storage.engine import get_engine
from radiator_assets.sync.changelog import ChangelogSyncResult, sync_changelogs
from radiator_assets.sync.issues import sync_issues
from radiator_assets_tests.assets.conftest import FIELDS, QUERY, fast_client
from radiator_assets_tests.locked import locked


def main(batches_before_death: int) -> None:
    engine = get_engine()
    flushed = 0

    def die_after_some_batches(_: ChangelogSyncResult) -> None:
        nonlocal flushed
        flushed += 1
        if flushed >= batches_before_death:
            os._exit(9)  # no cleanup, no rollback handlers: like a SIGKILL mid-run

    with fast_client() as client:
        locked(sync_issues, engine, client, base_query=QUERY, fields=FIELDS, batch_size=25)
        locked(sync_changelogs, engine, client, batch_issues=10, progress=die_after_some_batches)
    sys.exit(0)  # not reached when the fault fires


if __name__ == "__main__":
    main(int(sys.argv[1]))
