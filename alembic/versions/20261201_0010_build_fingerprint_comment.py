"""report_build_tasks.fingerprint: its comment says what it now holds

The fingerprint of a task is its task row's xmin alone (`reports/changes.py`: every
transaction that writes a task's stays also writes its task row); report_build_tasks
also holds the families "product:linked" (a linked task's stored testing returns) and
"product:pairs" (a linked task's product tasks). Only the column comment changes; the
stored fingerprints of the older form differ from every new one, so the first build
after the upgrade is a full one ("N of N tasks changed").

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "report_build_tasks"
NEW = "task row xmin (product:linked: a linked task's row xmin; product:pairs: empty)"
OLD = "task row xmin, count/sum(id)/sum(xmin) of its history"


def upgrade() -> None:
    op.alter_column(
        TABLE, "fingerprint", existing_type=sa.Text(), comment=NEW, existing_comment=OLD
    )


def downgrade() -> None:
    op.alter_column(
        TABLE, "fingerprint", existing_type=sa.Text(), comment=OLD, existing_comment=NEW
    )
