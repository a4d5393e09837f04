"""Moving an org's deployments to the work pool and queue it is placed on now."""

from __future__ import annotations

from prefect.client.orchestration import PrefectClient

from dalgo.deployments import connections, pipelines
from dalgo.deployments.fairness import Placement
from dalgo.settings import Settings


async def reapply_org_deployments(
    client: PrefectClient, settings: Settings, org: str, placement: Placement
) -> None:
    """Apply every pipeline and connection deployment of the org again with this placement (each
    keeps its definition and whether it is paused; runs already scheduled keep their queue)."""
    offset = 0
    while True:
        found, total = await pipelines.list_pipelines(client, org, pipelines.PAGE, offset)
        for pipeline in found:
            await pipelines.apply_pipeline(
                client, settings, org, pipeline.id, pipeline.definition, placement, pipeline.paused
            )
        offset += len(found)
        if not found or offset >= total:
            break
    offset = 0
    while True:
        synced, total = await connections.list_connections(client, org, pipelines.PAGE, offset)
        for connection in synced:
            await connections.apply_connection(
                client, settings, org, connection.id, connection.block, placement
            )
        offset += len(synced)
        if not synced or offset >= total:
            break
