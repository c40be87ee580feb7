"""report tables

The tables of the `reports` asset group (see radiator_assets/storage/report_models.py);
each report build replaces its table's rows in one transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

The tables are declared as of this revision and `ops.ensure_tables` creates
what is missing and aligns what exists (see `radiator_assets.storage.migration_ops`),
so the upgrade also succeeds over a database that has some or all of them.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    target = ops.revision_metadata()
    sa.Table(
        "report_aging_wip",
        target,
        sa.Column("task_key", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=255), nullable=True),
        sa.Column("team", sa.String(length=255), nullable=False),
        sa.Column("current_status", sa.String(length=255), nullable=False),
        sa.Column("status_block", sa.String(length=32), nullable=False),
        sa.Column("in_status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "age_in_status", sa.Integer(), nullable=False, comment="days in the current status"
        ),
        sa.Column("work_started", sa.DateTime(timezone=True), nullable=True),
        sa.Column("age_since_work_started", sa.Integer(), nullable=True),
        sa.Column("age_since_created", sa.Integer(), nullable=False),
        sa.Column(
            "team_status_p85",
            sa.Float(),
            nullable=True,
            comment="p85 of the team's closed stays in this status, days",
        ),
        sa.Column(
            "over_p85", sa.Boolean(), nullable=True, comment="age_in_status above team_status_p85"
        ),
        sa.PrimaryKeyConstraint("task_key", name=op.f("pk_report_aging_wip")),
    )
    sa.Table(
        "report_flow_weekly",
        target,
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("team", sa.String(length=255), nullable=False),
        sa.Column("arrivals", sa.Integer(), nullable=False, comment="tasks created that week"),
        sa.Column("throughput", sa.Integer(), nullable=False, comment="tasks completed that week"),
        sa.Column(
            "wip",
            sa.Integer(),
            nullable=False,
            comment="tasks in discovery or delivery at week end",
        ),
        sa.Column(
            "backlog", sa.Integer(), nullable=False, comment="tasks in the block at week end"
        ),
        sa.Column("discovery", sa.Integer(), nullable=False),
        sa.Column("delivery", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Integer(), nullable=False, comment="tasks in the pause block"),
        sa.Column("cumulative_arrivals", sa.Integer(), nullable=False),
        sa.Column("cumulative_throughput", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week_start", "team", name=op.f("pk_report_flow_weekly")),
    )
    sa.Table(
        "report_status_activity",
        target,
        sa.Column("dimension", sa.String(length=16), nullable=False, comment="'author' or 'team'"),
        sa.Column("name", sa.String(length=255), nullable=False, comment="the author or the team"),
        sa.Column(
            "week_start",
            sa.Date(),
            nullable=False,
            comment="Monday of the last full week before as_of",
        ),
        sa.Column("changes_last_week", sa.Integer(), nullable=False),
        sa.Column(
            "tasks_last_week", sa.Integer(), nullable=False, comment="distinct tasks changed"
        ),
        sa.Column("changes_prev_week", sa.Integer(), nullable=False),
        sa.Column("tasks_prev_week", sa.Integer(), nullable=False),
        sa.Column(
            "changes_trend", sa.Integer(), nullable=False, comment="last week minus the week before"
        ),
        sa.Column(
            "tasks_trend", sa.Integer(), nullable=False, comment="last week minus the week before"
        ),
        sa.Column(
            "open_discovery",
            sa.Integer(),
            nullable=False,
            comment="tasks in a discovery-block status at as_of",
        ),
        sa.Column(
            "open_delivery",
            sa.Integer(),
            nullable=False,
            comment="tasks in a delivery-block status at as_of",
        ),
        sa.PrimaryKeyConstraint("dimension", "name", name=op.f("pk_report_status_activity")),
    )
    sa.Table(
        "report_testing_returns",
        target,
        sa.Column("scope", sa.String(length=16), nullable=False, comment="'task' or 'epic'"),
        sa.Column("key", sa.String(length=64), nullable=False, comment="task or epic key"),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("epic_key", sa.String(length=64), nullable=True),
        sa.Column("tasks", sa.Integer(), nullable=False, comment="tasks counted (1 for a task)"),
        sa.Column("current_status", sa.String(length=255), nullable=True),
        sa.Column("returns_in_progress", sa.Integer(), nullable=False),
        sa.Column("returns_review", sa.Integer(), nullable=False),
        sa.Column("returns_testing", sa.Integer(), nullable=False),
        sa.Column("returns_external_test", sa.Integer(), nullable=False),
        sa.Column("returns_approval", sa.Integer(), nullable=False),
        sa.Column("returns_regression", sa.Integer(), nullable=False),
        sa.Column("returns_done", sa.Integer(), nullable=False),
        sa.Column(
            "returns_total", sa.Integer(), nullable=False, comment="sum of the columns above"
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_report_testing_returns")),
    )
    sa.Table(
        "report_time_in_status",
        target,
        sa.Column("task_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column(
            "status_block", sa.String(length=32), nullable=False, comment="block of this status"
        ),
        sa.Column(
            "days", sa.Integer(), nullable=False, comment="days in this status, closed stays"
        ),
        sa.Column(
            "current_days",
            sa.Integer(),
            nullable=False,
            comment="days of the open current stay up to as_of (0 unless current)",
        ),
        sa.Column(
            "entries", sa.Integer(), nullable=False, comment="times the task entered this status"
        ),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column(
            "current_status",
            sa.String(length=255),
            nullable=False,
            comment="the task's status at as_of",
        ),
        sa.Column(
            "last_change",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="start of the current stay",
        ),
        sa.PrimaryKeyConstraint("task_key", "status", name=op.f("pk_report_time_in_status")),
        sa.Index("ix_report_time_in_status_status", "status"),
    )
    sa.Table(
        "report_ttm_details",
        target,
        sa.Column("task_key", sa.String(length=64), nullable=False, comment="task key"),
        sa.Column("summary", sa.Text(), nullable=True, comment="task title"),
        sa.Column(
            "author", sa.String(length=255), nullable=True, comment="task author (createdBy)"
        ),
        sa.Column(
            "team",
            sa.String(length=255),
            nullable=False,
            comment="team of the author (config teams.authors)",
        ),
        sa.Column(
            "lead",
            sa.String(length=255),
            nullable=False,
            comment="lead of the team (config teams.leads)",
        ),
        sa.Column(
            "period", sa.String(length=255), nullable=True, comment="period of the completion date"
        ),
        sa.Column(
            "ttd_period",
            sa.String(length=255),
            nullable=True,
            comment="period of the first ready-for-development date",
        ),
        sa.Column(
            "ttm",
            sa.Integer(),
            nullable=True,
            comment="TTM, days; unfinished tasks (finished = false): measured to as_of",
        ),
        sa.Column("pause", sa.Integer(), nullable=False, comment="days in pause (pause_total)"),
        sa.Column(
            "tail",
            sa.Integer(),
            nullable=True,
            comment="last external test to done, minus pause, days",
        ),
        sa.Column(
            "devlt", sa.Integer(), nullable=True, comment="development lead time, calendar days"
        ),
        sa.Column(
            "ttd",
            sa.Integer(),
            nullable=True,
            comment="time to delivery (to ready for development), days",
        ),
        sa.Column(
            "ttd_pause",
            sa.Integer(),
            nullable=True,
            comment="pause before ready for development, days",
        ),
        sa.Column(
            "discovery_backlog_days",
            sa.Integer(),
            nullable=False,
            comment="days in the discovery-backlog status",
        ),
        sa.Column(
            "ready_for_dev_days",
            sa.Integer(),
            nullable=False,
            comment="days in the ready-for-development status",
        ),
        sa.Column(
            "returns_testing",
            sa.Integer(),
            nullable=False,
            comment="returns into the first testing-return status, linked tasks",
        ),
        sa.Column(
            "returns_external_test",
            sa.Integer(),
            nullable=False,
            comment="returns into the second testing-return status, linked tasks",
        ),
        sa.Column(
            "returns_total",
            sa.Integer(),
            nullable=False,
            comment="returns into all testing-return statuses, linked tasks",
        ),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False, comment="task creation"),
        sa.Column(
            "work_started",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="end of the last discovery-backlog stay",
        ),
        sa.Column(
            "completed", sa.DateTime(timezone=True), nullable=True, comment="completion date"
        ),
        sa.Column(
            "went_through_development",
            sa.Boolean(),
            nullable=False,
            comment="had an in-development stay of at least min_stay",
        ),
        sa.Column("finished", sa.Boolean(), nullable=False, comment="finished as of as_of"),
        sa.Column(
            "current_status", sa.String(length=255), nullable=True, comment="status as of as_of"
        ),
        sa.Column(
            "status_block", sa.String(length=32), nullable=True, comment="block of current_status"
        ),
        sa.PrimaryKeyConstraint("task_key", name=op.f("pk_report_ttm_details")),
        sa.Index("ix_report_ttm_details_period_team", "period", "team"),
    )
    sa.Table(
        "report_ttm_summary",
        target,
        sa.Column("period", sa.String(length=255), nullable=False, comment="period name"),
        sa.Column("dimension", sa.String(length=16), nullable=False, comment="'team' or 'lead'"),
        sa.Column("name", sa.String(length=255), nullable=False, comment="the team or the lead"),
        sa.Column("period_start", sa.Date(), nullable=False, comment="first day of the period"),
        sa.Column("tasks", sa.Integer(), nullable=False, comment="finished tasks"),
        sa.Column("ttm_count", sa.Integer(), nullable=False),
        sa.Column("ttm_mean", sa.Float(), nullable=True),
        sa.Column("ttm_median", sa.Float(), nullable=True),
        sa.Column("ttm_p85", sa.Float(), nullable=True),
        sa.Column("ttm_max", sa.Integer(), nullable=True),
        sa.Column("ttm_over", sa.Integer(), nullable=False, comment="TTM over thresholds.ttm"),
        sa.Column("ttd_count", sa.Integer(), nullable=False),
        sa.Column("ttd_mean", sa.Float(), nullable=True),
        sa.Column("ttd_median", sa.Float(), nullable=True),
        sa.Column("ttd_p85", sa.Float(), nullable=True),
        sa.Column("ttd_max", sa.Integer(), nullable=True),
        sa.Column("ttd_over", sa.Integer(), nullable=False, comment="TTD over thresholds.ttd"),
        sa.Column("tail_count", sa.Integer(), nullable=False),
        sa.Column("tail_mean", sa.Float(), nullable=True),
        sa.Column("tail_median", sa.Float(), nullable=True),
        sa.Column("tail_p85", sa.Float(), nullable=True),
        sa.Column("tail_max", sa.Integer(), nullable=True),
        sa.Column("tail_over", sa.Integer(), nullable=False, comment="Tail over thresholds.tail"),
        sa.Column("devlt_count", sa.Integer(), nullable=False),
        sa.Column("devlt_mean", sa.Float(), nullable=True),
        sa.Column("devlt_median", sa.Float(), nullable=True),
        sa.Column("devlt_p85", sa.Float(), nullable=True),
        sa.Column("devlt_max", sa.Integer(), nullable=True),
        sa.Column(
            "devlt_over", sa.Integer(), nullable=False, comment="DevLT over thresholds.devlt"
        ),
        sa.Column("pause_count", sa.Integer(), nullable=False),
        sa.Column("pause_mean", sa.Float(), nullable=True),
        sa.Column("pause_median", sa.Float(), nullable=True),
        sa.Column("pause_p85", sa.Float(), nullable=True),
        sa.Column("pause_max", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("period", "dimension", "name", name=op.f("pk_report_ttm_summary")),
    )
    ops.ensure_tables(target)


def downgrade() -> None:
    for table in (
        "report_ttm_summary",
        "report_ttm_details",
        "report_time_in_status",
        "report_testing_returns",
        "report_status_activity",
        "report_flow_weekly",
        "report_aging_wip",
    ):
        ops.drop_table(table)
