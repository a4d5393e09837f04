"""Request and response bodies: `Create`/`Update` schemas bind requests, `Public` ones answer.

None of them carries a password, a hash, a token hash or an invitation code back to a client.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from dalgo.api.security import MIN_PASSWORD_LENGTH

T = TypeVar("T")

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$"
_SLUG_RE = re.compile(SLUG_PATTERN)


class Page(BaseModel, Generic[T]):
    """One page of a growing collection, with the total number of items."""

    data: list[T]
    count: int


class Password(BaseModel):
    @staticmethod
    def check(value: str) -> str:
        if len(value) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
        return value


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_at: datetime


class PasswordResetRequest(BaseModel):
    email: str = Field(max_length=320)


class PasswordResetConfirm(BaseModel):
    code: str = Field(max_length=200)
    new_password: str = Field(max_length=1024)

    _check_password = field_validator("new_password")(Password.check)


class MembershipPublic(BaseModel):
    org: str
    org_name: str
    role: str
    permissions: list[str]


class MePublic(BaseModel):
    id: uuid.UUID
    email: str
    is_platform_admin: bool
    memberships: list[MembershipPublic]


class RolePublic(BaseModel):
    slug: str
    name: str
    level: int
    permissions: list[str]


class OrgCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(
        default=None,
        description=(
            "Lower-case letters, digits and dashes, 3 to 40 characters; made from the name when left out."
        ),
    )

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("The organization needs a name.")
        return value.strip()

    @field_validator("slug")
    @classmethod
    def _slug_shape(cls, value: str | None) -> str | None:
        if value is not None and (not _SLUG_RE.match(value) or "--" in value):
            raise ValueError(
                "A slug has 3 to 40 lower-case letters, digits and single dashes, "
                "and starts and ends with a letter or digit."
            )
        return value


class OrgPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str
    created_at: datetime


class OrgWithRolePublic(OrgPublic):
    role: str


class MemberPublic(BaseModel):
    user_id: uuid.UUID
    email: str
    role: str


class MemberUpdate(BaseModel):
    role: str = Field(max_length=32)


class InvitationCreate(BaseModel):
    email: EmailStr
    role: str = Field(max_length=32)


class InvitationPublic(BaseModel):
    id: uuid.UUID
    email: str
    role: str
    expires_at: datetime
    created_at: datetime
    invited_by: str | None = None


class InvitationAccept(BaseModel):
    code: str = Field(max_length=200)
    password: str | None = Field(default=None, max_length=1024)

    @field_validator("password")
    @classmethod
    def _password_length(cls, value: str | None) -> str | None:
        return None if value is None else Password.check(value)


class InvitationAccepted(BaseModel):
    org: str
    role: str


class HealthPublic(BaseModel):
    api: str
    database: str
    prefect: str


class FlowRunStarted(BaseModel):
    """A long operation was started as a flow run; poll it under /runs/{flow_run_id}."""

    flow_run_id: uuid.UUID


class RunPublic(BaseModel):
    id: uuid.UUID
    name: str
    kind: str | None
    pipeline_id: str | None
    state: str
    state_message: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration_s: float | None
    triggered_by: str


class StepPublic(BaseModel):
    id: uuid.UUID
    name: str
    type: str
    state: str
    start_time: datetime | None
    end_time: datetime | None


class RunDetailPublic(RunPublic):
    steps: list[StepPublic]
    result: Any | None = None


class LogPublic(BaseModel):
    timestamp: datetime
    level: str
    step: str | None
    message: str


class LogPage(BaseModel):
    data: list[LogPublic]
    next_offset: int | None


class SourceDefinitionPublic(BaseModel):
    name: str
    title: str


class SourceCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    definition: str = Field(min_length=1, max_length=100)
    config: dict[str, Any] = Field(default_factory=dict)


class SourceUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None


class SourcePublic(BaseModel):
    id: uuid.UUID
    name: str
    definition: str
    config: dict[str, Any]


class ConnectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    source_id: uuid.UUID
    streams: list[str] | None = Field(default=None, description="The streams to sync; null for all.")
    destination_schema: str = Field(
        pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="Lower-case letters, digits, _."
    )


class ConnectionUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    streams: list[str] | None = None
    destination_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")


class RunBrief(BaseModel):
    id: uuid.UUID
    state: str
    since: datetime | None
    end_time: datetime | None


class ConnectionPublic(BaseModel):
    id: uuid.UUID
    name: str
    source_id: uuid.UUID
    streams: list[str] | None
    destination_schema: str
    locked_by: RunBrief | None = Field(
        default=None, description="The sync run holding the connection, if any."
    )
    last_run: RunBrief | None = None


class IngestionEngineUpdate(BaseModel):
    engine: Literal["embedded", "airbyte-server"] = Field(
        description="embedded (connectors run by the platform) or airbyte-server (the platform's Airbyte)."
    )


class IngestionEnginePublic(BaseModel):
    engine: Literal["embedded", "airbyte-server"]
    workspace_id: str | None = Field(description="The org's workspace on the Airbyte server, once made.")
    airbyte_server_available: bool = Field(description="Whether the platform has an Airbyte server.")
