"""Bodies of an org's member routes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class MemberPublic(BaseModel):
    user_id: uuid.UUID
    email: str
    role: str


class MemberUpdate(BaseModel):
    role: str = Field(max_length=32)
