"""maintenance and notifications: in-app notifications, run alert markers, mail preferences,
recorded schema changes, and each org's run retention

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:06:42.203386
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dalgo.db.columns

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("flow_run_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", dalgo.db.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", dalgo.db.columns.UTCDateTime(timezone=True), nullable=True),
        sa.Column("mail_status", sa.String(length=16), nullable=False),
        sa.Column("mail_claimed_at", dalgo.db.columns.UTCDateTime(timezone=True), nullable=True),
        sa.Column("mail_attempts", sa.Integer(), nullable=False),
        sa.Column("mailed_at", dalgo.db.columns.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_flow_run_id"), ["flow_run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_mail_status"), ["mail_status"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_user_id"), ["user_id"], unique=False)

    op.create_table(
        "run_alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=True),
        sa.Column("run_state", sa.String(length=32), nullable=False),
        sa.Column("created_at", dalgo.db.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("flow_run_id", "reason", name="uq_run_alert_run_reason"),
    )
    with op.batch_alter_table("run_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_alert_org_id"), ["org_id"], unique=False)

    op.create_table(
        "schema_change",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=True),
        sa.Column("detected_at", dalgo.db.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "seq", name="uq_schema_change_connection_seq"),
    )
    with op.batch_alter_table("schema_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schema_change_connection_id"), ["connection_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schema_change_org_id"), ["org_id"], unique=False)

    op.create_table(
        "user_preference",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("failure_mails", sa.Boolean(), nullable=False),
        sa.Column("updated_at", dalgo.db.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_days", sa.Integer(), server_default="90", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.drop_column("retention_days")
    op.drop_table("user_preference")
    with op.batch_alter_table("schema_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schema_change_org_id"))
        batch_op.drop_index(batch_op.f("ix_schema_change_connection_id"))
    op.drop_table("schema_change")
    with op.batch_alter_table("run_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_alert_org_id"))
    op.drop_table("run_alert")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_user_id"))
        batch_op.drop_index(batch_op.f("ix_notification_org_id"))
        batch_op.drop_index(batch_op.f("ix_notification_mail_status"))
        batch_op.drop_index(batch_op.f("ix_notification_flow_run_id"))
    op.drop_table("notification")
