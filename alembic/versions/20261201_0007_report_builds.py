"""incremental report builds

Bookkeeping of incremental report builds (`radiator_assets.reports.changes`):
report_builds (the last build of each report family: as_of, configuration hash,
grain), report_build_tasks (per family and task: the fingerprint the build saw,
the task's contribution to the aggregates, when its as_of-dependent values next
change) and report_aging_stay_days (the histogram of closed stays that
report_aging_wip's team p85 is read from, maintained by delta).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    target = ops.revision_metadata()
    sa.Table(
        "report_builds",
        target,
        sa.Column("family", sa.String(64), nullable=False, comment="report family, e.g. 'product'"),
        sa.Column("as_of", TZ, nullable=False, comment="the instant the build described"),
        sa.Column(
            "config_hash",
            sa.Text(),
            nullable=False,
            comment="hash of the metrics configuration used",
        ),
        sa.Column(
            "grain",
            sa.Text(),
            nullable=False,
            comment="the coarse as_of-dependent shape of the reports (e.g. their weeks); "
            "a change forces a full build",
        ),
        sa.Column("built_at", TZ, nullable=False, comment="when the build committed"),
        sa.PrimaryKeyConstraint("family", name=op.f("pk_report_builds")),
    )
    sa.Table(
        "report_build_tasks",
        target,
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("task_key", sa.Text(), nullable=False),
        sa.Column(
            "fingerprint",
            sa.Text(),
            nullable=False,
            comment="task row xmin, count/sum(id)/sum(xmin) of its history",
        ),
        sa.Column(
            "state", JSONB(), nullable=True, comment="the task's contribution to the aggregates"
        ),
        sa.Column(
            "recompute_at",
            TZ,
            nullable=True,
            comment="the earliest as_of at which the task's as_of-dependent values change",
        ),
        sa.PrimaryKeyConstraint("family", "task_id", name=op.f("pk_report_build_tasks")),
        sa.Index("ix_report_build_tasks_family_recompute_at", "family", "recompute_at"),
    )
    sa.Table(
        "report_aging_stay_days",
        target,
        sa.Column("team", sa.String(255), nullable=False),
        sa.Column("status", sa.String(255), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("stays", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("team", "status", "days", name=op.f("pk_report_aging_stay_days")),
    )
    ops.ensure_tables(target)


def downgrade() -> None:
    ops.drop_table("report_aging_stay_days")
    ops.drop_table("report_build_tasks")
    ops.drop_table("report_builds")
