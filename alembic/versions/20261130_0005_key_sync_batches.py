"""key sync batches

The progress of ad-hoc syncs of given issues (`radiator sync --keys/--query`):
one row per batch of keys, so a run killed half-way and started again with the
same input skips the batches it committed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    target = ops.revision_metadata()
    sa.Table(
        "tracker_key_sync_batches",
        target,
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column(
            "keys", postgresql.ARRAY(sa.Text()), nullable=False, comment="the keys asked for"
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "stored_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="when the batch's snapshots were committed",
        ),
        sa.Column(
            "tracker_ids",
            postgresql.ARRAY(sa.Text()),
            server_default="{}",
            nullable=False,
            comment="the issues stored for these keys",
        ),
        sa.Column(
            "not_found",
            postgresql.ARRAY(sa.Text()),
            server_default="{}",
            nullable=False,
            comment="keys Tracker answered 404 for",
        ),
        sa.Column(
            "hidden",
            postgresql.ARRAY(sa.Text()),
            server_default="{}",
            nullable=False,
            comment="keys Tracker hides from us (403)",
        ),
        sa.Column("dagster_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("input_hash", "batch_no", name=op.f("pk_tracker_key_sync_batches")),
    )
    ops.ensure_tables(target)


def downgrade() -> None:
    ops.drop_table("tracker_key_sync_batches")
