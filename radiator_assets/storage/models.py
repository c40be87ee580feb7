"""The warehouse schema as SQLAlchemy 2 typed models.

Migrations under `alembic/` create exactly this; `alembic check` and
`radiator db check` compare against it. Every timestamp is `timestamptz` and
stored in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TZ = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class TrackerTask(Base):
    """One Tracker issue as last fetched, keyed by Tracker's stable id (keys change on moves)."""

    __tablename__ = "tracker_tasks"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    tracker_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    key: Mapped[str] = mapped_column(sa.String(64), index=True)
    aliases: Mapped[list[str]] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    queue: Mapped[str | None] = mapped_column(sa.String(64))
    type: Mapped[str | None] = mapped_column(sa.String(128))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    status_key: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[str | None] = mapped_column(sa.String(255))
    author: Mapped[str | None] = mapped_column(sa.String(255))
    assignee: Mapped[str | None] = mapped_column(sa.String(255))
    team: Mapped[str | None] = mapped_column(sa.String(255))
    prodteam: Mapped[str | None] = mapped_column(sa.String(255))
    business_client: Mapped[str | None] = mapped_column(sa.String(255))
    parent_key: Mapped[str | None] = mapped_column(sa.String(64))
    epic_key: Mapped[str | None] = mapped_column(sa.String(64))
    links: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=sa.text("'[]'::jsonb")
    )
    full_data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime | None] = mapped_column(TZ)
    task_updated_at: Mapped[datetime | None] = mapped_column(TZ, index=True)
    last_sync_at: Mapped[datetime | None] = mapped_column(TZ, index=True)
    # Changelog cursor: entries after this id are not stored yet.
    last_changelog_id: Mapped[str | None] = mapped_column(sa.String(64))
    # `task_updated_at` the changelog was last fetched for; differs -> fetch again.
    changelog_synced_updated_at: Mapped[datetime | None] = mapped_column(TZ)
    # Set when a direct GET of the issue answered 404: Tracker says it is deleted.
    deleted_at: Mapped[datetime | None] = mapped_column(TZ)
    # Set when the issue still exists but no longer matches TRACKER_QUERY (kept, not reported).
    out_of_query_since: Mapped[datetime | None] = mapped_column(TZ)
    # True when stored changelog entries are newer than the task's status history.
    history_stale: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())

    __table_args__ = (
        sa.Index("ix_tracker_tasks_links", "links", postgresql_using="gin"),
        sa.Index("ix_tracker_tasks_queue", "queue"),
    )


class TrackerChangelogEntry(Base):
    """One changelog entry exactly as Tracker gave it; append-only."""

    __tablename__ = "tracker_changelog"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    task_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.ForeignKey("tracker_tasks.id", ondelete="CASCADE")
    )
    updated_at: Mapped[datetime] = mapped_column(TZ)
    updated_by: Mapped[str | None] = mapped_column(sa.String(255))
    type: Mapped[str | None] = mapped_column(sa.String(64))
    status_from_key: Mapped[str | None] = mapped_column(sa.String(128))
    status_from: Mapped[str | None] = mapped_column(sa.String(255))
    status_to_key: Mapped[str | None] = mapped_column(sa.String(128))
    status_to: Mapped[str | None] = mapped_column(sa.String(255))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (
        sa.Index("ix_tracker_changelog_task_id_updated_at", "task_id", "updated_at"),
        sa.Index("ix_tracker_changelog_updated_at", "updated_at"),
    )


class TrackerTaskHistory(Base):
    """One stay of a task in a status; `end_date` is null while it is the current one."""

    __tablename__ = "tracker_task_history"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    task_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.ForeignKey("tracker_tasks.id", ondelete="CASCADE")
    )
    tracker_id: Mapped[str] = mapped_column(sa.String(64))
    status_key: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(255))
    status_display: Mapped[str | None] = mapped_column(sa.String(255))
    start_date: Mapped[datetime] = mapped_column(TZ)
    end_date: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (
        # Also the index of every lookup by task_id (and status): revision 0008 dropped the
        # separate (task_id, status) one, and the one on tracker_id no query used.
        sa.UniqueConstraint("task_id", "status", "start_date"),
        sa.Index("ix_tracker_task_history_start_date_end_date", "start_date", "end_date"),
        # The stays open at an instant (status activity, revision 0009): no end, or later.
        sa.Index("ix_tracker_task_history_end_date", "end_date"),
    )


class TrackerSyncRun(Base):
    """One sync: what it wrote, what it cost, and how far it got."""

    __tablename__ = "tracker_sync_runs"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    started_at: Mapped[datetime] = mapped_column(TZ, server_default=sa.func.now())
    finished_at: Mapped[datetime | None] = mapped_column(TZ)
    status: Mapped[str] = mapped_column(sa.String(16), server_default="running")
    tasks_written: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    entries_written: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    history_written: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    api_requests: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    high_water_mark: Mapped[datetime | None] = mapped_column(TZ)
    error: Mapped[str | None] = mapped_column(sa.Text)
    dagster_run_id: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (sa.Index("ix_tracker_sync_runs_started_at", "started_at"),)


class TrackerSyncState(Base):
    """Per base query: where the next incremental listing starts.

    Only a listing that was read to its end moves the mark, so a run killed or
    failing half-way through an unsorted scroll never pushes it past issues it
    did not store.
    """

    __tablename__ = "tracker_sync_state"

    query: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    high_water_mark: Mapped[datetime | None] = mapped_column(
        TZ, comment="newest updatedAt of the last complete listing"
    )
    listed_at: Mapped[datetime] = mapped_column(
        TZ, server_default=sa.func.now(), comment="when that listing completed"
    )
    issues_listed: Mapped[int] = mapped_column(sa.Integer, server_default="0")


class TrackerQuarantine(Base):
    """A record the sync could not store, with why; retried by later syncs until resolved.

    `kind` is `issue` (an issue payload that cannot be a row) or `changelog`
    (an issue whose changelog could not be fetched, or held bad entries);
    `ref` is the issue's Tracker id, else its key, else a hash of the payload.
    """

    __tablename__ = "tracker_quarantine"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    ref: Mapped[str] = mapped_column(sa.String(128))
    issue_key: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[Any | None] = mapped_column(JSONB, comment="the record as received, cleaned")
    retry_from: Mapped[str | None] = mapped_column(
        sa.String(64), comment="changelog cursor a retry starts after"
    )
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default="1")
    first_seen_at: Mapped[datetime] = mapped_column(TZ, server_default=sa.func.now())
    last_seen_at: Mapped[datetime] = mapped_column(TZ, server_default=sa.func.now())
    resolved_at: Mapped[datetime | None] = mapped_column(TZ)
    resolution: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.UniqueConstraint("kind", "ref"),
        sa.Index("ix_tracker_quarantine_resolved_at", "resolved_at"),
    )


class TrackerKeySyncBatch(Base):
    """One batch of an ad-hoc sync of given issues (`radiator sync --keys/--query`).

    `input_hash` names the input (the keys given, or the query): a run killed half-way
    and started again with the same input finds its batches here and skips those whose
    snapshots were committed (`stored_at`), in the transaction that stored them.
    """

    __tablename__ = "tracker_key_sync_batches"

    input_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    batch_no: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    keys: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), comment="the keys asked for")
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=sa.func.now())
    stored_at: Mapped[datetime | None] = mapped_column(
        TZ, comment="when the batch's snapshots were committed"
    )
    tracker_ids: Mapped[list[str]] = mapped_column(
        ARRAY(sa.Text), server_default="{}", comment="the issues stored for these keys"
    )
    not_found: Mapped[list[str]] = mapped_column(
        ARRAY(sa.Text), server_default="{}", comment="keys Tracker answered 404 for"
    )
    hidden: Mapped[list[str]] = mapped_column(
        ARRAY(sa.Text), server_default="{}", comment="keys Tracker hides from us (403)"
    )
    dagster_run_id: Mapped[str | None] = mapped_column(sa.String(64))


from radiator_assets.storage import report_models  # noqa: E402,F401
