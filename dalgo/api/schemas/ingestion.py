"""Bodies of the org's ingestion-engine route."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class IngestionEngineUpdate(BaseModel):
    engine: Literal["embedded", "airbyte-server"] = Field(
        description="embedded (connectors run by the platform) or airbyte-server (the platform's Airbyte)."
    )


class IngestionEnginePublic(BaseModel):
    engine: Literal["embedded", "airbyte-server"]
    workspace_id: str | None = Field(description="The org's workspace on the Airbyte server, once made.")
    airbyte_server_available: bool = Field(description="Whether the platform has an Airbyte server.")
