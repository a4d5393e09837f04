"""Bodies of the source and source-definition routes."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field


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
