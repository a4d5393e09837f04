"""Bodies of the invitation routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, EmailStr, Field, field_validator

from dalgo.api.schemas.common import Password


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
