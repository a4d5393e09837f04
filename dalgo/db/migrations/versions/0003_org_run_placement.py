"""each org's run placement: the work pool and queue its runs go to

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 03:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.add_column(sa.Column("work_pool", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("work_queue", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.drop_column("work_queue")
        batch_op.drop_column("work_pool")
