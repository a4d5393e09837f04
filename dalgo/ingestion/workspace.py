"""An org's workspace on the platform's Airbyte server: finding it, and removing what is in it."""

from __future__ import annotations

import anyio
from prefect.client.orchestration import PrefectClient

from dalgo.blocks.ingestion import AirbyteServerBlock, IngestionEngineBlock
from dalgo.ingestion.airbyte_server import AirbyteServer
from dalgo.ingestion.server_objects import connection_name, source_name
from dalgo.naming import AIRBYTE_SERVER_BLOCK_NAME, ingestion_engine_block_name


async def load_server_block(client: PrefectClient) -> AirbyteServerBlock | None:
    """The platform's Airbyte server, or None when none is set up."""
    try:
        block: AirbyteServerBlock = await AirbyteServerBlock.aload(AIRBYTE_SERVER_BLOCK_NAME, client=client)
    except ValueError:
        return None
    return block


async def load_engine_block(client: PrefectClient, org: str) -> IngestionEngineBlock | None:
    """The org's engine block, or None for an org that never chose (the embedded engine)."""
    try:
        block: IngestionEngineBlock = await IngestionEngineBlock.aload(
            ingestion_engine_block_name(org), client=client
        )
    except ValueError:
        return None
    return block


async def _server_and_workspace(client: PrefectClient, org: str) -> tuple[AirbyteServer, str] | None:
    block = await load_engine_block(client, org)
    if block is None or not block.workspace_id:
        return None
    server_block = await load_server_block(client)
    if server_block is None:
        return None
    return AirbyteServer(server_block), block.workspace_id


async def remove_connection_from_server(client: PrefectClient, org: str, connection_id: str) -> None:
    """Remove the connection from the org's Airbyte workspace, if it has one there."""
    found = await _server_and_workspace(client, org)
    if found is not None:
        server, workspace = found
        await anyio.to_thread.run_sync(server.delete_connection, workspace, connection_name(connection_id))


async def remove_source_from_server(client: PrefectClient, org: str, source_id: str) -> None:
    """Remove the source from the org's Airbyte workspace, if it has one there."""
    found = await _server_and_workspace(client, org)
    if found is not None:
        server, workspace = found
        await anyio.to_thread.run_sync(server.delete_source, workspace, source_name(source_id))


async def remove_workspace(client: PrefectClient, org: str) -> bool:
    """Delete the org's whole Airbyte workspace (with everything in it); False when it has none."""
    found = await _server_and_workspace(client, org)
    if found is None:
        return False
    server, workspace = found
    await anyio.to_thread.run_sync(server.delete_workspace, workspace)
    return True
