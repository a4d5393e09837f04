"""Deleting an org through the API: a flow run on the real worker that leaves nothing behind."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from prefect.blocks.system import Secret
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from dalgo.deployments.client import prefect_client
from dalgo.deployments.factory import OrgDeploymentSpec, apply_org_deployment
from dalgo.naming import org_object_name, org_tag
from dalgo.prefect_objects import (
    org_block_documents,
    org_concurrency_limit_names,
    org_deployment_ids,
    org_flow_run_ids,
)
from dalgo.settings import Settings
from tests.support.accounts import ROLE_SLUGS, OrgWithRoles
from tests.support.runs import wait_for_run


async def _populate(settings: Settings, org: str) -> None:
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


async def _leftovers(settings: Settings, org: str) -> dict[str, int]:
    async with prefect_client(settings) as client:
        return {
            "blocks": len(await org_block_documents(client, org)),
            "deployments": len(await org_deployment_ids(client, org)),
            "runs": len(await org_flow_run_ids(client, org)),
            "limits": len(await org_concurrency_limit_names(client, org)),
            "tagged_runs": len(
                await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(any_=[org_tag(org)]))
                )
            ),
        }


def test_deleting_an_org_leaves_nothing_tagged_with_it(
    client: TestClient, worker: str, settings: Settings, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    neighbour = make_org_with_roles(f"{org.slug}-east")
    asyncio.run(_populate(settings, org.slug))
    asyncio.run(_populate(settings, neighbour.slug))
    check = client.post(
        f"/api/v1/orgs/{org.slug}/warehouse/check", headers=org.headers["account-manager"]
    ).json()
    wait_for_run(client, org.slug, check["flow_run_id"], org.headers["guest"])
    (settings.org_home(org.slug)).mkdir(parents=True, exist_ok=True)
    (settings.org_home(org.slug) / "notes.txt").write_text("left behind by the org")
    before = asyncio.run(_leftovers(settings, org.slug))
    assert (
        before["blocks"] == 1 and before["deployments"] == 1 and before["limits"] == 1 and before["runs"] >= 1
    )

    assert (
        client.delete(f"/api/v1/orgs/{org.slug}", headers=org.headers["account-manager"]).status_code == 403
    )
    started = client.delete(f"/api/v1/orgs/{org.slug}", headers=org.headers["super-admin"])
    assert started.status_code == 202
    run_id = started.json()["flow_run_id"]
    following = client.get(f"/api/v1/orgs/{org.slug}/runs/{run_id}", headers=org.headers["guest"])
    assert following.status_code in (200, 404)
    state = asyncio.run(_final_state(settings, run_id))
    assert state == "COMPLETED"
    assert not _org_exists(client, org)

    assert asyncio.run(_leftovers(settings, org.slug)) == {
        "blocks": 0,
        "deployments": 0,
        "runs": 0,
        "limits": 0,
        "tagged_runs": 0,
    }
    assert not settings.org_home(org.slug).exists()
    for role in ROLE_SLUGS:
        assert client.get(f"/api/v1/orgs/{org.slug}", headers=org.headers[role]).status_code == 404
        assert org.slug not in [
            o["slug"] for o in client.get("/api/v1/orgs", headers=org.headers[role]).json()
        ]
    untouched = asyncio.run(_leftovers(settings, neighbour.slug))
    assert untouched["blocks"] == 1 and untouched["deployments"] == 1 and untouched["limits"] == 1


def _org_exists(client: TestClient, org: OrgWithRoles) -> bool:
    status: int = client.get(f"/api/v1/orgs/{org.slug}", headers=org.headers["super-admin"]).status_code
    return status == 200


async def _final_state(settings: Settings, run_id: str, timeout_s: float = 180) -> str:
    deadline = time.monotonic() + timeout_s
    async with prefect_client(settings) as client:
        while True:
            run = await client.read_flow_run(uuid.UUID(run_id))
            if run.state is not None and run.state.is_final():
                return run.state.type.value
            assert time.monotonic() < deadline, f"the deletion run is still {run.state}"
            await asyncio.sleep(0.5)
