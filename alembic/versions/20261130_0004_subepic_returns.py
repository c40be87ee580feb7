"""subepic returns report

The table of the `report_subepic_returns` asset (testing returns per
implementation task with its epic's team, month and quarter; see
radiator_assets/reports/subepic_returns.py). `ops.ensure_tables` creates it, or
aligns a table that is already there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _returns(name: str, comment: str | None = None) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False, comment=comment)


def upgrade() -> None:
    target = ops.revision_metadata()
    sa.Table(
        "report_subepic_returns",
        target,
        sa.Column("task_key", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "author", sa.String(length=255), nullable=True, comment="task author (createdBy)"
        ),
        sa.Column(
            "team",
            sa.String(length=255),
            nullable=True,
            comment="team field of the epic, else of its first task having one, else the same "
            "for the product-team field; without an epic the task's own",
        ),
        sa.Column("epic_key", sa.String(length=64), nullable=True, comment="the task's epic"),
        sa.Column("epic_summary", sa.Text(), nullable=True, comment="title of the epic"),
        sa.Column(
            "epic_month",
            sa.String(length=7),
            nullable=True,
            comment="YYYY-MM of the earliest creation among the epic's rows; without an epic "
            "the task's own",
        ),
        sa.Column(
            "epic_quarter",
            sa.String(length=255),
            nullable=True,
            comment="quarter field of the epic; without an epic the task's own",
        ),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False, comment="task creation"),
        sa.Column(
            "current_status", sa.String(length=255), nullable=False, comment="status as of as_of"
        ),
        _returns("returns_in_progress"),
        _returns("returns_review"),
        _returns("returns_testing"),
        _returns("returns_external_test"),
        _returns("returns_approval"),
        _returns("returns_regression"),
        _returns("returns_done"),
        _returns("returns_total", "sum of the columns above"),
        sa.PrimaryKeyConstraint("task_key", name=op.f("pk_report_subepic_returns")),
    )
    ops.ensure_tables(target)


def downgrade() -> None:
    ops.drop_table("report_subepic_returns")
