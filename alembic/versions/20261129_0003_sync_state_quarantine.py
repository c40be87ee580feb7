"""sync state and quarantine

The incremental high-water mark moves to its own table (advanced only by a
complete listing), bad records get a quarantine, and issues that left the
query are told apart from deleted ones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    target = ops.revision_metadata()
    sa.Table(
        "tracker_sync_state",
        target,
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column(
            "high_water_mark",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="newest updatedAt of the last complete listing",
        ),
        sa.Column(
            "listed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="when that listing completed",
        ),
        sa.Column("issues_listed", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("query", name=op.f("pk_tracker_sync_state")),
    )
    sa.Table(
        "tracker_quarantine",
        target,
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=128), nullable=False),
        sa.Column("issue_key", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="the record as received, cleaned",
        ),
        sa.Column(
            "retry_from",
            sa.String(length=64),
            nullable=True,
            comment="changelog cursor a retry starts after",
        ),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_quarantine")),
        sa.UniqueConstraint("kind", "ref", name=op.f("uq_tracker_quarantine_kind_ref")),
        sa.Index("ix_tracker_quarantine_resolved_at", "resolved_at"),
    )
    ops.ensure_tables(target)
    ops.add_column(
        "tracker_tasks", sa.Column("out_of_query_since", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    ops.drop_table("tracker_quarantine")
    ops.drop_table("tracker_sync_state")
    op.drop_column("tracker_tasks", "out_of_query_since")
