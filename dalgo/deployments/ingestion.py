"""An org's ingestion engine (embedded, or the platform's Airbyte server) and the platform's server.

The org's choice is its `IngestionEngineBlock`; the server is one platform-wide `AirbyteServerBlock`.
Objects an org has on the server live in its workspace there: removing a source or connection here
removes it there first, so nothing is left behind on either side.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect.client.orchestration import PrefectClient

from dalgo.blocks.ingestion import AirbyteServerBlock, EngineName, IngestionEngineBlock
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.ingestion.airbyte_server import AirbyteServerError
from dalgo.ingestion.workspace import (
    load_engine_block,
    load_server_block,
    remove_connection_from_server,
    remove_source_from_server,
    remove_workspace,
)
from dalgo.naming import AIRBYTE_SERVER_BLOCK_NAME, ingestion_engine_block_name, warehouse_block_name


class EngineChoiceError(ValueError):
    """The org cannot use the engine it asked for; the message says why."""


@dataclass(frozen=True)
class EngineState:
    engine: EngineName
    workspace_id: str | None
    server_configured: bool


async def save_server_block(client: PrefectClient, block: AirbyteServerBlock) -> None:
    """Set the platform's Airbyte server (address and credentials)."""
    await block.asave(AIRBYTE_SERVER_BLOCK_NAME, overwrite=True, client=client)


async def engine_state(client: PrefectClient, org: str) -> EngineState:
    block = await load_engine_block(client, org)
    server = await load_server_block(client)
    if block is None:
        return EngineState("embedded", None, server is not None)
    return EngineState(block.engine, block.workspace_id, server is not None)


async def choose_engine(client: PrefectClient, org: str, engine: EngineName) -> EngineState:
    """Set the org's engine; EngineChoiceError when the platform or the warehouse cannot serve it.
    An org that leaves the server keeps its workspace id, so coming back finds its objects again."""
    if engine == "airbyte-server":
        if await load_server_block(client) is None:
            raise EngineChoiceError(
                "This platform has no Airbyte server set up; ask the platform team to add one "
                "(`dalgo admin airbyte-server`)."
            )
        try:
            warehouse: WarehouseBlock = await WarehouseBlock.aload(warehouse_block_name(org), client=client)
        except ValueError:
            warehouse = None  # type: ignore[assignment]
        if warehouse is not None and warehouse.type == "duckdb":
            raise EngineChoiceError(
                "An Airbyte server cannot write into this organization's DuckDB warehouse, which lives on "
                "the platform's own machine; use a Postgres or BigQuery warehouse for the Airbyte server."
            )
    block = await load_engine_block(client, org) or IngestionEngineBlock()
    block.engine = engine
    await block.asave(ingestion_engine_block_name(org), overwrite=True, client=client)
    return await engine_state(client, org)


__all__ = [
    "AirbyteServerError",
    "EngineChoiceError",
    "EngineState",
    "choose_engine",
    "engine_state",
    "remove_connection_from_server",
    "remove_source_from_server",
    "remove_workspace",
    "save_server_block",
]
