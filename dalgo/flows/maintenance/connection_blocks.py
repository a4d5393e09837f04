"""An org's connections as the maintenance flows read them: straight from their blocks."""

from __future__ import annotations

import uuid

from prefect.client.orchestration import PrefectClient

from dalgo.blocks.connection import ConnectionBlock
from dalgo.naming import CONNECTION_BLOCK_TYPE, connection_block_prefix
from dalgo.prefect_objects import filter_block_documents

PAGE = 200


async def org_connection_blocks(client: PrefectClient, org: str) -> dict[uuid.UUID, ConnectionBlock]:
    """The org's connections, by id, read from their blocks."""
    await ConnectionBlock.aregister_type_and_schema(client=client)
    prefix = connection_block_prefix(org)
    found: dict[uuid.UUID, ConnectionBlock] = {}
    offset = 0
    while True:
        page = await filter_block_documents(client, f"{prefix}%", CONNECTION_BLOCK_TYPE, PAGE, offset)
        for document in page:
            if document["name"].startswith(prefix):
                connection_id = uuid.UUID(document["name"].removeprefix(prefix))
                found[connection_id] = ConnectionBlock.model_validate(document["data"])
        if len(page) < PAGE:
            return found
        offset += PAGE
