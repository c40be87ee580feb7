"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Drift-tolerant, like every revision here (radiator_assets/storage/migration_ops.py):
new tables are declared as of this revision in `target` and `ops.ensure_tables`
creates them, or aligns them if they exist already; changes to a table of an
earlier revision use `ops.add_column` / `ops.create_index` /
`ops.create_unique_constraint` / `ops.create_foreign_key`, Alembic's signatures.
Plain `op.*` calls fail on a database where the object already exists.
"""

from collections.abc import Sequence

import sqlalchemy as sa
${imports if imports else ""}
from alembic import op
from radiator_assets.storage import migration_ops as ops

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    target = ops.revision_metadata()
    # New tables, as of this revision (FKs may name tables of earlier revisions), e.g.
    # sa.Table(
    #     "tracker_example",
    #     target,
    #     sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    #     sa.Column("task_id", sa.BigInteger, sa.ForeignKey("tracker_tasks.id"), index=True),
    # )
    ops.ensure_tables(target)
    # Changes to existing tables, e.g.
    # ops.add_column("tracker_tasks", sa.Column("sprint", sa.String(64)))
    # ops.create_index(op.f("ix_tracker_tasks_sprint"), "tracker_tasks", ["sprint"])
% if upgrades and upgrades.strip() != "pass":
    #
    # What autogenerate found (write it as the above: `ops.` for `op.`, tables in `target`):
    # ${upgrades.replace("\n    ", "\n    # ")}
% endif


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
