"""history indexes: drop the two the history build maintained for no query

tracker_task_history kept, besides its primary key, unique key (task_id, status,
start_date) and foreign key, three secondary indexes, each written for every stay the
history build inserts. Two served no query:

* ix_tracker_task_history_task_id_status (task_id, status): a prefix of the unique
  key's index, which serves the same lookups (loading's per-task stays, returns'
  statuses of the paired tasks: EXPLAIN shows them on the unique index once it is gone);
* ix_tracker_task_history_tracker_id: nothing looks stays up by Tracker id (queries
  join on task_id).

ix_tracker_task_history_start_date_end_date stays: status activity's two-week window
(start_date range) reads through it; without it, a scan of the whole unique index.

`DROP INDEX IF EXISTS`: an upgrade over a database where they are already gone does
nothing. Downgrade recreates them through migration_ops (unless they exist).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "tracker_task_history"
DROPPED = {
    "ix_tracker_task_history_task_id_status": ["task_id", "status"],
    "ix_tracker_task_history_tracker_id": ["tracker_id"],
}


def upgrade() -> None:
    for name in DROPPED:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    for name, columns in DROPPED.items():
        ops.create_index(name, TABLE, columns)
