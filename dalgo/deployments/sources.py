"""An org's sources as Prefect blocks: find, list (one filtered query per page), save, delete."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound

from dalgo.blocks.source import SourceBlock
from dalgo.naming import SOURCE_BLOCK_TYPE, source_block_name, source_block_prefix
from dalgo.prefect_objects import count_block_documents, filter_block_documents


@dataclass(frozen=True)
class SourceSummary:
    """What a list of sources shows (no secrets: the configuration without them)."""

    id: uuid.UUID
    name: str
    definition: str
    config: dict[str, Any]


async def list_sources(
    client: PrefectClient, org: str, limit: int, offset: int
) -> tuple[list[SourceSummary], int]:
    """The org's sources by name of their block, and how many there are."""
    await SourceBlock.aregister_type_and_schema(client=client)
    prefix = source_block_prefix(org)
    documents = await filter_block_documents(client, f"{prefix}%", SOURCE_BLOCK_TYPE, limit, offset)
    count = await count_block_documents(client, f"{prefix}%", SOURCE_BLOCK_TYPE)
    summaries = [
        SourceSummary(
            id=uuid.UUID(document["name"].removeprefix(prefix)),
            name=document["data"].get("title", ""),
            definition=document["data"].get("definition", ""),
            config=document["data"].get("config", {}),
        )
        for document in documents
        if document["name"].startswith(prefix)
    ]
    return summaries, count


async def load_source(client: PrefectClient, org: str, source_id: uuid.UUID) -> SourceBlock | None:
    """The org's source with this id (secrets included, for the platform's own use), or None."""
    try:
        block: SourceBlock = await SourceBlock.aload(source_block_name(org, str(source_id)), client=client)
    except ValueError:
        return None
    return block


async def save_source(client: PrefectClient, org: str, source_id: uuid.UUID, block: SourceBlock) -> None:
    await block.asave(source_block_name(org, str(source_id)), overwrite=True, client=client)


async def delete_source(client: PrefectClient, org: str, source_id: uuid.UUID) -> bool:
    try:
        await SourceBlock.adelete(source_block_name(org, str(source_id)), client=client)
    except (ValueError, ObjectNotFound):
        return False
    return True
