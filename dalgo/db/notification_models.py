"""The API database's tables for alerts: in-app notifications (which double as the record of each
alert mail's delivery), the per-run alert markers, mail preferences and recorded schema changes.

A marker row is unique per run and reason, and the notifications of an alert are written in the
same transaction as its marker: an alert is either recorded whole, with one pending mail per
recipient, or not at all. Mails are then claimed one by one (see `dalgo.alerts.delivery`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from dalgo.db.columns import UTCDateTime, utcnow

MAIL_PENDING = "pending"
MAIL_SENT = "sent"
MAIL_OFF = "off"
MAIL_FAILED = "failed"

PLATFORM_KINDS = ("long_run",)
"""Notification kinds addressed to platform admins: shown whether or not they belong to the org."""


def _now() -> datetime:
    return utcnow()


class Notification(SQLModel, table=True):
    """A message to one user, shown in the app; when `mail_status` is not `off` it is also mailed.

    `mail_status` is `pending` until the mail is handed to the mail server (`sent`), or `failed`
    after the last attempt; `off` when the user opted out. `mail_claimed_at` is set by the sender
    that took the mail on; a claim older than the retry window is taken again (the sender died)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    org_id: uuid.UUID | None = Field(default=None, foreign_key="org.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=32, description="run_failed, long_run or schema_changed.")
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text(), nullable=False))
    link: str | None = Field(default=None, max_length=500)
    flow_run_id: uuid.UUID | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=_now, sa_column=Column(UTCDateTime(), nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    mail_status: str = Field(default=MAIL_OFF, max_length=16, index=True)
    mail_claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    mail_attempts: int = Field(default=0)
    mailed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class RunAlert(SQLModel, table=True):
    """The marker that a run's alert was recorded: one per run and reason (`failed`, `long_running`).

    The unique constraint is what makes alerting idempotent: a second notifier that finds the same
    run fails to insert its marker, rolls back its notifications and moves on."""

    __tablename__ = "run_alert"
    __table_args__ = (UniqueConstraint("flow_run_id", "reason", name="uq_run_alert_run_reason"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    flow_run_id: uuid.UUID
    reason: str = Field(max_length=16)
    org_id: uuid.UUID | None = Field(default=None, foreign_key="org.id", index=True, ondelete="CASCADE")
    run_state: str = Field(max_length=32, description="The run's state when the alert was recorded.")
    created_at: datetime = Field(default_factory=_now, sa_column=Column(UTCDateTime(), nullable=False))


class UserPreference(SQLModel, table=True):
    """A user's mail preferences; a user without a row has the defaults (every mail on)."""

    __tablename__ = "user_preference"

    user_id: uuid.UUID = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    failure_mails: bool = Field(default=True)
    updated_at: datetime = Field(default_factory=_now, sa_column=Column(UTCDateTime(), nullable=False))


class SchemaChange(SQLModel, table=True):
    """One schema of a connection's source as the platform last saw it, numbered per connection.

    The first row of a connection (`changes` null) is its baseline; a later row records what
    changed since the one before. `(connection_id, seq)` is unique, so two detectors that see the
    same change record it once."""

    __tablename__ = "schema_change"
    __table_args__ = (UniqueConstraint("connection_id", "seq", name="uq_schema_change_connection_seq"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(foreign_key="org.id", index=True, ondelete="CASCADE")
    connection_id: uuid.UUID = Field(index=True)
    seq: int
    fingerprint: str = Field(max_length=64)
    snapshot: str = Field(sa_column=Column(Text(), nullable=False), description="The schema, as JSON.")
    changes: str | None = Field(
        default=None, sa_column=Column(Text(), nullable=True), description="What changed, as JSON."
    )
    detected_at: datetime = Field(default_factory=_now, sa_column=Column(UTCDateTime(), nullable=False))
