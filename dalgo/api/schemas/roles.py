"""Bodies of the role list."""

from __future__ import annotations

from pydantic import BaseModel


class RolePublic(BaseModel):
    slug: str
    name: str
    level: int
    permissions: list[str]
