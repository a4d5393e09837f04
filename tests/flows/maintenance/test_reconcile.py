"""Reconcile: what an org that no longer exists left in Prefect is removed; a connection whose sync
deployment went missing gets it back; nothing of a living org is touched."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.blocks.system import Secret
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from dalgo.blocks.connection import ConnectionBlock
from dalgo.deployments.client import prefect_client
from dalgo.deployments.connections import apply_connection
from dalgo.deployments.factory import OrgDeploymentSpec, apply_org_deployment, delete_org_deployment
from dalgo.flows.maintenance.reconcile import reconcile_prefect
from dalgo.naming import org_object_name, org_tag, sync_deployment_name
from dalgo.prefect_objects import (
    org_block_documents,
    org_concurrency_limit_names,
    org_deployment_ids,
    org_flow_run_ids,
)
from dalgo.settings import Settings
from tests.support.accounts import OrgWithRoles, unique_slug


@flow(name="test-reconcile-placeholder")
def placeholder() -> None:
    """Only its name is used."""


async def _populate(settings: Settings, org: str) -> None:
    """A deployment, a block, a lock and a run of the org, as it would have had them."""
    async with prefect_client(settings) as client:
        await Secret(value="s3cret-value").asave(org_object_name(org, "git-token"), client=client)
        await apply_org_deployment(
            client,
            settings,
            OrgDeploymentSpec(
                org=org,
                kind="check",
                name="nightly",
                flow_name="check-warehouse",
                entrypoint="dalgo.flows.warehouse.check_warehouse",
                parameters={"org": org},
            ),
        )
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=f"lock:{org}:dbt", limit=1)
        )
        await client.create_flow_run(placeholder, tags=[org_tag(org), "kind:sync"])


async def _objects(settings: Settings, org: str) -> dict[str, int]:
    async with prefect_client(settings) as client:
        return {
            "blocks": len(await org_block_documents(client, org)),
            "deployments": len(await org_deployment_ids(client, org)),
            "runs": len(await org_flow_run_ids(client, org)),
            "limits": len(await org_concurrency_limit_names(client, org)),
        }


async def _connection_without_deployment(settings: Settings, org: str) -> uuid.UUID:
    connection_id = uuid.uuid4()
    block = ConnectionBlock(
        title="People", source_id=str(uuid.uuid4()), streams=["users"], destination_schema="raw"
    )
    async with prefect_client(settings) as client:
        await apply_connection(client, settings, org, connection_id, block)
        assert await delete_org_deployment(client, org, f"sync-{connection_id.hex}")
    return connection_id


async def _deployment_names(settings: Settings, org: str) -> set[str]:
    async with prefect_client(settings) as client:
        ids = await org_deployment_ids(client, org)
        return {(await client.read_deployment(i)).name for i in ids}


def test_orphans_are_removed_and_missing_sync_deployments_recreated(
    flow_settings: Settings, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    ghost = unique_slug("ghost")
    asyncio.run(_populate(flow_settings, ghost))
    asyncio.run(_populate(flow_settings, org.slug))
    connection_id = asyncio.run(_connection_without_deployment(flow_settings, org.slug))
    living = asyncio.run(_objects(flow_settings, org.slug))
    assert asyncio.run(_objects(flow_settings, ghost)) == {
        "blocks": 1,
        "deployments": 1,
        "runs": 1,
        "limits": 1,
    }

    dry: dict[str, Any] = asyncio.run(reconcile_prefect(only_orgs=[ghost, org.slug], dry_run=True))
    assert dry["orphan_orgs"] == [ghost]
    assert [(m["org"], m["object_id"], m["recreated"]) for m in dry["missing_deployments"]] == [
        (org.slug, str(connection_id), False)
    ]
    assert asyncio.run(_objects(flow_settings, ghost))["deployments"] == 1

    done: dict[str, Any] = asyncio.run(reconcile_prefect(only_orgs=[ghost, org.slug]))
    assert done["removed"] == {ghost: {"deployments": 1, "flow_runs": 1, "blocks": 1, "locks": 1}}
    assert [(m["object_id"], m["recreated"]) for m in done["missing_deployments"]] == [
        (str(connection_id), True)
    ]
    assert asyncio.run(_objects(flow_settings, ghost)) == {
        "blocks": 0,
        "deployments": 0,
        "runs": 0,
        "limits": 0,
    }
    assert sync_deployment_name(org.slug, connection_id) in asyncio.run(
        _deployment_names(flow_settings, org.slug)
    )
    after = asyncio.run(_objects(flow_settings, org.slug))
    assert after["blocks"] == living["blocks"] and after["limits"] == living["limits"]
    assert after["deployments"] == living["deployments"] + 1 and after["runs"] >= living["runs"]

    again: dict[str, Any] = asyncio.run(reconcile_prefect(only_orgs=[ghost, org.slug]))
    assert again["removed"] == {} and again["missing_deployments"] == []
