"""The API database's tables: identity, tenancy and the audit log (DESIGN.md section 2).

Nothing here mirrors Prefect or Airbyte; codes and tokens are stored as hashes only.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from dalgo.db.columns import UTCDateTime, utcnow


def _created_at() -> datetime:
    return utcnow()


class User(SQLModel, table=True):
    """A person with one login; the email is stored lower-cased, so it compares case-insensitively."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    is_platform_admin: bool = Field(default=False)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=_created_at, sa_column=Column(UTCDateTime(), nullable=False))


class ApiToken(SQLModel, table=True):
    """A login token: opaque to the client, stored as its SHA-256 hash, expiring and revocable."""

    __tablename__ = "api_token"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=_created_at, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Org(SQLModel, table=True):
    """An organization: the tenant. Its slug prefixes and tags everything it owns in Prefect.

    A slug has 3 to 40 lower-case letters, digits and single dashes (never two in a row: the
    double dash separates the slug from the rest of a Prefect object's name)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slug: str = Field(max_length=40, unique=True, index=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=_created_at, sa_column=Column(UTCDateTime(), nullable=False))
    retention_days: int = Field(
        default=90, ge=1, sa_column_kwargs={"server_default": "90"}, description="Runs are kept this long."
    )
    work_pool: str | None = Field(
        default=None, max_length=100, description="The work pool its runs go to (null: the platform's)."
    )
    work_queue: str | None = Field(
        default=None, max_length=100, description="The queue in that pool (null: the pool's default)."
    )


class Permission(SQLModel, table=True):
    """A permission slug such as `can_run_pipeline`, seeded from roles.toml."""

    slug: str = Field(primary_key=True, max_length=64)
    description: str = Field(max_length=255)


class Role(SQLModel, table=True):
    """One of the five roles, seeded from roles.toml."""

    slug: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=64)
    level: int = Field(unique=True)


class RolePermission(SQLModel, table=True):
    """Which permissions a role holds (cumulative: lower levels' permissions included)."""

    __tablename__ = "role_permission"

    role_slug: str = Field(foreign_key="role.slug", primary_key=True, ondelete="CASCADE")
    permission_slug: str = Field(foreign_key="permission.slug", primary_key=True, ondelete="CASCADE")


class Membership(SQLModel, table=True):
    """A user's membership of an org, with one role."""

    __table_args__ = (UniqueConstraint("user_id", "org_id", name="uq_membership_user_org"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    org_id: uuid.UUID = Field(foreign_key="org.id", index=True, ondelete="CASCADE")
    role_slug: str = Field(foreign_key="role.slug")
    created_at: datetime = Field(default_factory=_created_at, sa_column=Column(UTCDateTime(), nullable=False))


class Invitation(SQLModel, table=True):
    """An invitation to join an org with a role; its code is mailed and only its hash is kept."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(foreign_key="org.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=320, index=True)
    role_slug: str = Field(foreign_key="role.slug")
    code_hash: str = Field(max_length=64, unique=True, index=True)
    invited_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=_created_at, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class PasswordResetCode(SQLModel, table=True):
    """A one-time password-reset code (hashed), valid for a short time."""

    __tablename__ = "password_reset_code"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=_created_at, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class AuditEntry(SQLModel, table=True):
    """One change someone made, or tried to make, through the API: who, what, to which object,
    when and with what outcome; also each failed sign-in.

    Never a request body or a secret: at most the names of the fields a request set (`details`).
    The actor's email and the org's slug are kept beside their ids, so an entry still says who and
    where after the user or the org is gone (the ids are then null)."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_org_id_created_at", "org_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(
        default_factory=_created_at, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    org_id: uuid.UUID | None = Field(default=None, foreign_key="org.id", ondelete="SET NULL")
    org_slug: str | None = Field(default=None, max_length=40)
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    actor_email: str | None = Field(default=None, max_length=320, index=True)
    action: str = Field(max_length=100, index=True, description="The route's name, or sign_in_failed.")
    method: str | None = Field(default=None, max_length=8)
    path: str | None = Field(default=None, max_length=500)
    object_type: str | None = Field(default=None, max_length=50, index=True)
    object_id: str | None = Field(default=None, max_length=200, index=True)
    status_code: int = Field(description="The answer's HTTP status: the outcome.")
    request_id: str | None = Field(default=None, max_length=64)
    client_address: str | None = Field(default=None, max_length=64)
    details: str | None = Field(
        default=None, sa_column=Column(Text(), nullable=True), description="JSON: fields set, run id, reason."
    )
