"""Bodies of an org's connection routes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from dalgo.api.schemas.common import RunBrief


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
