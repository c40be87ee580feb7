"""baseline

Revision ID: 0001
Revises:
Create Date: 2026-11-25

The whole warehouse as of the first release: tasks, changelog, status history, sync runs.

The tables are declared as of this revision and `ops.ensure_tables` creates
what is missing and aligns what exists (see `radiator_assets.storage.migration_ops`),
so the upgrade also succeeds over a database that has some or all of them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    target = ops.revision_metadata()
    sa.Table(
        "tracker_sync_runs",
        target,
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("tasks_written", sa.Integer(), server_default="0", nullable=False),
        sa.Column("entries_written", sa.Integer(), server_default="0", nullable=False),
        sa.Column("history_written", sa.Integer(), server_default="0", nullable=False),
        sa.Column("api_requests", sa.Integer(), server_default="0", nullable=False),
        sa.Column("high_water_mark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dagster_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_sync_runs")),
        sa.Index("ix_tracker_sync_runs_started_at", "started_at"),
    )
    sa.Table(
        "tracker_tasks",
        target,
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tracker_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column(
            "aliases",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=128), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status_key", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=255), nullable=True),
        sa.Column("author", sa.String(length=255), nullable=True),
        sa.Column("assignee", sa.String(length=255), nullable=True),
        sa.Column("team", sa.String(length=255), nullable=True),
        sa.Column("prodteam", sa.String(length=255), nullable=True),
        sa.Column("business_client", sa.String(length=255), nullable=True),
        sa.Column("parent_key", sa.String(length=64), nullable=True),
        sa.Column("epic_key", sa.String(length=64), nullable=True),
        sa.Column(
            "links",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("full_data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("task_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_changelog_id", sa.String(length=64), nullable=True),
        sa.Column("changelog_synced_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("history_stale", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_tasks")),
        sa.UniqueConstraint("tracker_id", name=op.f("uq_tracker_tasks_tracker_id")),
        sa.Index("ix_tracker_tasks_key", "key"),
        sa.Index("ix_tracker_tasks_last_sync_at", "last_sync_at"),
        sa.Index("ix_tracker_tasks_links", "links", postgresql_using="gin"),
        sa.Index("ix_tracker_tasks_queue", "queue"),
        sa.Index("ix_tracker_tasks_task_updated_at", "task_updated_at"),
    )
    sa.Table(
        "tracker_changelog",
        target,
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=True),
        sa.Column("status_from_key", sa.String(length=128), nullable=True),
        sa.Column("status_from", sa.String(length=255), nullable=True),
        sa.Column("status_to_key", sa.String(length=128), nullable=True),
        sa.Column("status_to", sa.String(length=255), nullable=True),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tracker_tasks.id"],
            name=op.f("fk_tracker_changelog_task_id_tracker_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_changelog")),
        sa.Index("ix_tracker_changelog_task_id_updated_at", "task_id", "updated_at"),
        sa.Index("ix_tracker_changelog_updated_at", "updated_at"),
    )
    sa.Table(
        "tracker_task_history",
        target,
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("tracker_id", sa.String(length=64), nullable=False),
        sa.Column("status_key", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("status_display", sa.String(length=255), nullable=True),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tracker_tasks.id"],
            name=op.f("fk_tracker_task_history_task_id_tracker_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_task_history")),
        sa.UniqueConstraint(
            "task_id",
            "status",
            "start_date",
            name=op.f("uq_tracker_task_history_task_id_status_start_date"),
        ),
        sa.Index("ix_tracker_task_history_start_date_end_date", "start_date", "end_date"),
        sa.Index("ix_tracker_task_history_task_id_status", "task_id", "status"),
        sa.Index("ix_tracker_task_history_tracker_id", "tracker_id"),
    )
    ops.ensure_tables(target)


def downgrade() -> None:
    for table in (
        "tracker_task_history",
        "tracker_changelog",
        "tracker_tasks",
        "tracker_sync_runs",
    ):
        ops.drop_table(table)
