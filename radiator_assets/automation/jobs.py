"""Jobs the sensor and schedules launch."""

from __future__ import annotations

from datetime import date

import dagster as dg

from radiator_assets.assets.reports import GROUP as REPORTS_GROUP
from radiator_assets.assets.tracker import GROUP as TRACKER_GROUP
from radiator_assets.settings import get_settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

tracker_sync_job = dg.define_asset_job(
    "tracker_sync",
    selection=dg.AssetSelection.groups(TRACKER_GROUP, REPORTS_GROUP),
    description=(
        "Issues, then their new changelog entries, then the stays they change, then the "
        "reports (which blocking checks on the history hold back)."
    ),
)


def partition_range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the daily partitions first..last (single-run backfill)."""
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def whole_history_tags(today: date) -> dict[str, str]:
    """The partitions from RADIATOR_HISTORY_START to `today`."""
    return partition_range_tags(get_settings().history_start, today)
