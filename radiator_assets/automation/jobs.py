"""Jobs the sensor and schedules launch."""

from __future__ import annotations

import os
import socket
from datetime import datetime

import dagster as dg

from radiator_assets.assets.partitions import current_partition_key, first_partition_key
from radiator_assets.assets.report_pictures import CURRENT_REPORT_TABLES, report_pictures
from radiator_assets.assets.tracker import GROUP as TRACKER_GROUP

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

#: The sensor's job: tables only. Drawing the pictures (about 3 s, their inputs moving on
#: nearly every sync) is left to the daily `reports` run and to `pictures_job`.
tracker_sync_job = dg.define_asset_job(
    "tracker_sync",
    selection=dg.AssetSelection.groups(TRACKER_GROUP) | CURRENT_REPORT_TABLES,
    description=(
        "Issues, then their new changelog entries, then the stays they change, then the "
        "report tables (which blocking checks on the history hold back); no pictures."
    ),
)

#: The pictures on demand: `radiator pictures`, the Telegram sensor before it sends them.
pictures_job = dg.define_asset_job(
    "pictures",
    selection=dg.AssetSelection.assets(report_pictures),
    description="Draws every report picture from the committed report tables.",
)


#: Op config of the project's own automation (the sensor, the schedules, `radiator sync`):
#: read what is pending; re-reading closed months is for repairs someone asks for.
PENDING_ONLY_OPS: dict[str, dict[str, object]] = {
    "tracker_changelog": {"config": {"reread": "none"}}
}


#: Dagster's run-monitoring limit on one incremental or catch-up run of the automation
#: (`dagster/max_runtime`, seconds): one hour is far beyond a normal one, and a run left
#: STARTED by a dead code server must not hold the sensor back for the instance's limit
#: (`run_monitoring.max_runtime_seconds` in deploy/dagster.yaml), meant for first syncs.
#: A run stopped by it keeps what it stored; the next run carries on.
INCREMENTAL_RUN_TAGS = {"dagster/max_runtime": "3600"}


#: Tags of a run executed in the `radiator sync` process itself: Dagster cannot watch an
#: in-process run, so the sensor fails one whose process is gone (`in_process_run_tags`).
HOST_TAG = "radiator/host"
PID_TAG = "radiator/pid"


def in_process_run_tags() -> dict[str, str]:
    """Where this process runs: the host and the pid of a run executed in it."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


#: Tag of an ad-hoc sync of given issues (`radiator sync --keys/--query`): what was given.
GIVEN_TAG = "radiator/given"
GIVEN_TAG_CHARS = 200


def given_tag(given: dict[str, object]) -> str:
    """`keys: 3 (CPO-1, CPO-2, CPO-3)` or `query: Queue: CPO`, cut to a tag's length (the
    run's config holds every key)."""
    keys = given.get("keys")
    if isinstance(keys, list):
        text = f"keys: {len(keys)} ({', '.join(map(str, keys))})"
    else:
        text = f"query: {given.get('query')}"
    return text if len(text) <= GIVEN_TAG_CHARS else text[: GIVEN_TAG_CHARS - 3] + "..."


def partition_range_tags(first_key: str, last_key: str) -> dict[str, str]:
    """Run tags that make one run cover the partitions first..last (single-run backfill)."""
    return {RANGE_START_TAG: first_key, RANGE_END_TAG: last_key}


def whole_history_tags(now: datetime | None = None) -> dict[str, str]:
    """Every partition, from RADIATOR_HISTORY_START's month to the current one (a first sync)."""
    return partition_range_tags(first_partition_key(), current_partition_key(now))
