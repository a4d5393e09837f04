"""The reconcile check of connections: each embedded connection (a block) has a sync deployment;
a missing one is made again from the block, with the connection's lock. The reconcile flow
(`dalgo.flows.maintenance.reconcile`) finds this check through its registry, by module name."""

from __future__ import annotations

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

from dalgo.deployments.connections import apply_connection
from dalgo.deployments.fairness import org_placement
from dalgo.flows.maintenance.connection_blocks import org_connection_blocks
from dalgo.flows.maintenance.registry import MissingDeployment, deployment_check
from dalgo.naming import org_tag, sync_deployment_name
from dalgo.settings import Settings

PAGE = 200


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


@deployment_check("connection")
async def missing_sync_deployments(
    client: PrefectClient, settings: Settings, org: str, repair: bool
) -> list[MissingDeployment]:
    """Connections of the org without a sync deployment; with `repair`, each is made again."""
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
