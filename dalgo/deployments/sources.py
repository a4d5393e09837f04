"""An org's sources as Prefect blocks: find, list (one filtered query per page), save, delete."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound

from dalgo.blocks.source import SourceBlock
from dalgo.flows.sources import source_block_name
from dalgo.naming import org_object_name

SOURCE_BLOCK_TYPE = "dalgo-source"


@dataclass(frozen=True)
class SourceSummary:
    """What a list of sources shows (no secrets: the configuration without them)."""

    id: uuid.UUID
    name: str
    definition: str
    config: dict[str, Any]


def _filter(org: str) -> dict[str, Any]:
    return {
        "block_documents": {"name": {"like_": f"{org_object_name(org, 'source')}-%"}},
        "block_types": {"slug": {"any_": [SOURCE_BLOCK_TYPE]}},
    }


async def list_sources(
    client: PrefectClient, org: str, limit: int, offset: int
) -> tuple[list[SourceSummary], int]:
    """The org's sources by name of their block, and how many there are."""
    await SourceBlock.aregister_type_and_schema(client=client)
    response = await client.request(
        "POST",
        "/block_documents/filter",
        json={**_filter(org), "include_secrets": False, "limit": limit, "offset": offset},
    )
    response.raise_for_status()
    count = await client.request("POST", "/block_documents/count", json=_filter(org))
    count.raise_for_status()
    prefix = f"{org_object_name(org, 'source')}-"
    summaries = [
        SourceSummary(
            id=uuid.UUID(document["name"].removeprefix(prefix)),
            name=document["data"].get("title", ""),
            definition=document["data"].get("definition", ""),
            config=document["data"].get("config", {}),
        )
        for document in response.json()
        if document["name"].startswith(prefix)
    ]
    return summaries, int(count.json())


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
