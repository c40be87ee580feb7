"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Use the drift-tolerant operations of `radiator_assets.storage.migration_ops`
(create_table / add_column / create_index / create_unique): they succeed when
the object already exists, so an upgrade survives hand-made schema changes.
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
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
