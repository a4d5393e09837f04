"""The reconcile check of connections: each embedded connection (a block) has a sync deployment;
a missing one is made again from the block, with the connection's lock."""

from __future__ import annotations

import uuid

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

from dalgo.blocks.connection import ConnectionBlock
from dalgo.flows.maintenance.registry import MissingDeployment, deployment_check
from dalgo.naming import org_object_name, org_tag
from dalgo.settings import Settings

PAGE = 200


async def org_connection_blocks(client: PrefectClient, org: str) -> dict[uuid.UUID, ConnectionBlock]:
    """The org's connections, by id, read from their blocks."""
    await ConnectionBlock.aregister_type_and_schema(client=client)
    prefix = f"{org_object_name(org, 'connection')}-"
    found: dict[uuid.UUID, ConnectionBlock] = {}
    offset = 0
    while True:
        response = await client.request(
            "POST",
            "/block_documents/filter",
            json={
                "block_documents": {"name": {"like_": f"{prefix}%"}},
                "block_types": {"slug": {"any_": ["dalgo-connection"]}},
                "include_secrets": False,
                "limit": PAGE,
                "offset": offset,
            },
        )
        response.raise_for_status()
        page = response.json()
        for document in page:
            if document["name"].startswith(prefix):
                connection_id = uuid.UUID(document["name"].removeprefix(prefix))
                found[connection_id] = ConnectionBlock.model_validate(document["data"])
        if len(page) < PAGE:
            return found
        offset += PAGE


async def org_deployment_names(client: PrefectClient, org: str) -> set[str]:
    """The names of every deployment tagged with the org."""
    names: set[str] = set()
    offset = 0
    while True:
        page = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[org_tag(org)])),
            limit=PAGE,
            offset=offset,
        )
        names.update(d.name for d in page)
        if len(page) < PAGE:
            return names
        offset += PAGE


def sync_deployment_name(org: str, connection_id: uuid.UUID) -> str:
    """The name of a connection's sync deployment (as dalgo.deployments.connections makes it)."""
    return org_object_name(org, f"sync-{connection_id.hex}")


@deployment_check("connection")
async def missing_sync_deployments(
    client: PrefectClient, settings: Settings, org: str, repair: bool
) -> list[MissingDeployment]:
    """Connections of the org without a sync deployment; with `repair`, each is made again."""
    from dalgo.deployments.connections import apply_connection
    from dalgo.deployments.fairness import org_placement

    deployments = await org_deployment_names(client, org)
    placement = org_placement(settings, org)
    missing: list[MissingDeployment] = []
    for connection_id, block in (await org_connection_blocks(client, org)).items():
        name = sync_deployment_name(org, connection_id)
        if name in deployments:
            continue
        error: str | None = None
        if repair:
            try:
                await apply_connection(client, settings, org, connection_id, block, placement)
            except Exception as exc:  # noqa: BLE001 - reported, and tried again next time
                error = str(exc)
        missing.append(
            MissingDeployment("connection", str(connection_id), name, repair and error is None, error)
        )
    return missing
