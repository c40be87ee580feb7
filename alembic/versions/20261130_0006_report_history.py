"""report history

Snapshots of the summary kept per as_of: report_summary_history (the rows of
report_ttm_summary) and report_flow_history (per team: WIP, throughput, tasks in
development). Every product build replaces the snapshot of its own as_of; the
weekly `report_summary_history` partitions add those of past week ends.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    target = ops.revision_metadata()
    sa.Table(
        "report_flow_history",
        target,
        sa.Column(
            "as_of",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="the instant the snapshot describes",
        ),
        sa.Column("team", sa.String(length=255), nullable=False),
        sa.Column(
            "week_start",
            sa.Date(),
            nullable=False,
            comment="Monday of the week the snapshot closes (the last week of report_flow_weekly)",
        ),
        sa.Column(
            "wip", sa.Integer(), nullable=False, comment="tasks in discovery or delivery at as_of"
        ),
        sa.Column(
            "throughput",
            sa.Integer(),
            nullable=False,
            comment="tasks completed that week, up to as_of",
        ),
        sa.Column(
            "arrivals", sa.Integer(), nullable=False, comment="tasks created that week, up to as_of"
        ),
        sa.Column(
            "aging_over_p85",
            sa.Integer(),
            nullable=False,
            comment="open tasks older in their status than the team's p85 (report_aging_wip)",
        ),
        sa.Column(
            "in_development",
            sa.Integer(),
            nullable=False,
            comment="unfinished tasks that went through development, with a DevLT (details rows)",
        ),
        sa.Column(
            "in_development_devlt_mean",
            sa.Float(),
            nullable=True,
            comment="mean DevLT to as_of of those tasks",
        ),
        sa.Column(
            "in_development_devlt_median",
            sa.Float(),
            nullable=True,
            comment="median DevLT to as_of of those tasks",
        ),
        sa.Column(
            "in_development_devlt_p85",
            sa.Float(),
            nullable=True,
            comment="p85 of DevLT to as_of of those tasks",
        ),
        sa.PrimaryKeyConstraint("as_of", "team", name=op.f("pk_report_flow_history")),
    )
    sa.Table(
        "report_summary_history",
        target,
        sa.Column(
            "as_of",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="the instant the snapshot describes",
        ),
        sa.Column("period", sa.String(length=255), nullable=False, comment="period name"),
        sa.Column("dimension", sa.String(length=16), nullable=False, comment="'team' or 'lead'"),
        sa.Column("name", sa.String(length=255), nullable=False, comment="the team or the lead"),
        sa.Column(
            "current_period",
            sa.Boolean(),
            nullable=False,
            comment="the period holds the snapshot's last instant (just before as_of)",
        ),
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
        sa.PrimaryKeyConstraint(
            "as_of", "period", "dimension", "name", name=op.f("pk_report_summary_history")
        ),
    )
    ops.ensure_tables(target)


def downgrade() -> None:
    ops.drop_table("report_summary_history")
    ops.drop_table("report_flow_history")
