"""An org's warehouse as a Prefect block: load, save, delete."""

from __future__ import annotations

from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound

from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.naming import warehouse_block_name


async def load_warehouse(client: PrefectClient, org: str) -> WarehouseBlock | None:
    """The org's saved warehouse (secrets included, for the platform's own use), or None."""
    try:
        block: WarehouseBlock = await WarehouseBlock.aload(warehouse_block_name(org), client=client)
    except ValueError:
        return None
    return block


async def save_warehouse(client: PrefectClient, org: str, warehouse: WarehouseBlock) -> None:
    """Save the org's warehouse, replacing the one saved before (its secrets encrypted by Prefect)."""
    await warehouse.asave(warehouse_block_name(org), overwrite=True, client=client)


async def delete_warehouse(client: PrefectClient, org: str) -> bool:
    """Forget the org's warehouse (its data stays where it is); False when it had none."""
    try:
        await WarehouseBlock.adelete(warehouse_block_name(org), client=client)
    except (ValueError, ObjectNotFound):
        return False
    return True
