"""Bodies of the caller's own account route."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


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
