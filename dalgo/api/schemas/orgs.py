"""Bodies of the organization routes."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$"


_SLUG_RE = re.compile(SLUG_PATTERN)


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
