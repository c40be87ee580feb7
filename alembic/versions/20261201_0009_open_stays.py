"""open stays: indexes of the stays open at an instant, statistics of lower(queue)

Status activity (`reports/activity.py`) counts the product tasks' stays open at as_of
(`end_date IS NULL OR end_date > as_of`): without an index on end_date that read every
stay (the planner walked each product task's stays through the unique key, 0.5 s on the
benchmark's 50k tasks). Two indexes, one per branch of the condition:

* ix_tracker_task_history_open (task_id) INCLUDE (status, start_date) WHERE end_date IS
  NULL: the open stays (one per task, 4 MB on the benchmark), read index-only. A plain
  end_date index served them too, but as a bitmap over the heap: the open stays lie on
  nearly every page (19,700 of them), 0.2 s. Partial and covering, so made with SQL
  here and left out of the schema comparison (`migrations.HAND_MADE_INDEXES`).
* ix_tracker_task_history_end_date (end_date): the stays ending after as_of (none when
  as_of is now; a past as_of has some), a range of it. Without it, 0.23 s scanning the
  start_date index.

Every report filters tasks by `lower(queue) = ANY(...)`, an expression the planner had
no statistics for: it guessed 0.5% of the tasks (350 of 50,000 product tasks) and chose
nested loops over the history for what is a whole queue (the activity's two-week window
took 0.3 s instead of 0.06 s). Extended statistics on the expression (PostgreSQL 14+)
give ANALYZE's numbers to the planner without an index to maintain. Alembic does not
compare statistics objects: `CREATE STATISTICS IF NOT EXISTS` in the upgrade only.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_tracker_task_history_end_date"
OPEN_INDEX = "ix_tracker_task_history_open"
STATISTICS = "st_tracker_tasks_lower_queue"


def upgrade() -> None:
    ops.create_index(INDEX, "tracker_task_history", ["end_date"])
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {OPEN_INDEX} ON tracker_task_history (task_id) "
        "INCLUDE (status, start_date) WHERE end_date IS NULL"
    )
    op.execute(f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} ON (lower(queue)) FROM tracker_tasks")
    op.execute("ANALYZE tracker_tasks")


def downgrade() -> None:
    op.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
    op.execute(f"DROP INDEX IF EXISTS {OPEN_INDEX}")
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
