"""The changelog's partitions: calendar months (UTC) from `RADIATOR_HISTORY_START`.

Months, not days, by measurement (README, "Partitions"): a first sync records
one materialization per partition, and Dagster's bookkeeping of a few thousand
daily partitions cost more than the sync itself, while a month keeps the event
log of a ten-year history at about 120 events. A partition holds the entries
whose `updatedAt` falls in its month; the newest one is the current month.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from radiator_assets.settings import get_settings


def month_start(day: date) -> date:
    return day.replace(day=1)


def partition_key(day: date) -> str:
    """The key of the partition holding `day` (`2026-11-01` for any day of November 2026)."""
    return month_start(day).isoformat()


changelog_partitions = dg.MonthlyPartitionsDefinition(
    start_date=partition_key(get_settings().history_start), end_offset=1, timezone="UTC"
)


def first_partition_key() -> str:
    return changelog_partitions.start.date().isoformat()


def current_partition_key(now: datetime | None = None) -> str:
    """The partition of the current month, where new entries land."""
    return partition_key((now or datetime.now(UTC)).astimezone(UTC).date())


def whole_history_range(now: datetime | None = None) -> str:
    """`first...current`, the partitions a first sync covers (the CLI's `--partition-range`)."""
    return f"{first_partition_key()}...{current_partition_key(now)}"


def holds(key: str, now: datetime | None = None) -> bool:
    """Whether `key` names one of the partitions (history start to the current month)."""
    return first_partition_key() <= key <= current_partition_key(now)


def first_month_recorded(instance: dg.DagsterInstance) -> bool:
    """Whether a run has recorded the changelog's first month (a first sync completed)."""
    recorded = instance.get_materialized_partitions(dg.AssetKey("tracker_changelog"))
    return first_partition_key() in recorded


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


#: The weeks (Monday to Monday, UTC) of report_summary_history, from the week of
#: RADIATOR_HISTORY_START; with no end offset the newest is the last complete week.
report_week_partitions = dg.WeeklyPartitionsDefinition(
    start_date=week_start(get_settings().history_start).isoformat(), day_offset=1, timezone="UTC"
)
