"""Which engine syncs an org's connections, and the platform's Airbyte server.

An org syncs either with the *embedded* engine (Airbyte connectors from PyPI run through PyAirbyte
on the worker; the default) or through an *Airbyte server*, in a workspace of its own there. The
org's choice and its workspace id are an `IngestionEngineBlock` named `<slug>--ingestion-engine`;
the server's address and credentials are one platform-wide `AirbyteServerBlock`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from dalgo.naming import AIRBYTE_SERVER_BLOCK_TYPE, INGESTION_ENGINE_BLOCK_TYPE

EngineName = Literal["embedded", "airbyte-server"]


class IngestionEngineBlock(Block):
    """The ingestion engine of one org and, for an Airbyte server, the org's objects there."""

    _block_type_name: ClassVar[str] = "Dalgo Ingestion Engine"
    _block_type_slug: ClassVar[str] = INGESTION_ENGINE_BLOCK_TYPE
    _description: ClassVar[str] = "How a Dalgo organization's connections are synced."

    engine: EngineName = Field(default="embedded", description="embedded, or airbyte-server.")
    workspace_id: str | None = Field(default=None, description="The org's workspace on the Airbyte server.")
    destination_id: str | None = Field(
        default=None, description="The org's warehouse as a destination in that workspace."
    )
    destination_fingerprint: str | None = Field(
        default=None, description="A digest of the warehouse settings the destination was made from."
    )


class AirbyteServerBlock(Block):
    """The platform's Airbyte server (OSS, Enterprise or Cloud) and how to authenticate to it."""

    _block_type_name: ClassVar[str] = "Dalgo Airbyte Server"
    _block_type_slug: ClassVar[str] = AIRBYTE_SERVER_BLOCK_TYPE
    _description: ClassVar[str] = "The Airbyte server Dalgo organizations may sync through."

    api_url: str = Field(description="The public API root, e.g. http://airbyte:8000/api/public/v1.")
    config_api_url: str | None = Field(
        default=None, description="The Config API root (for job logs); derived from api_url when unset."
    )
    client_id: str | None = Field(default=None, description="OAuth client id of an Airbyte application.")
    client_secret: SecretStr | None = Field(default=None, description="Its client secret.")
    bearer_token: SecretStr | None = Field(default=None, description="A token to use instead of a client.")
    organization_id: str | None = Field(default=None, description="The organization new workspaces go in.")

    def resolved_config_api_url(self) -> str:
        """The Config API root: as set, or `/api/v1` beside a self-managed `/api/public/v1`."""
        if self.config_api_url:
            return self.config_api_url.rstrip("/")
        root = self.api_url.rstrip("/")
        if root.endswith("/api/public/v1"):
            return root.removesuffix("/api/public/v1") + "/api/v1"
        if root == "https://api.airbyte.com/v1":
            return "https://cloud.airbyte.com/api/v1"
        raise ValueError(
            f"The Config API address cannot be derived from {root}; set config_api_url on the server block."
        )
