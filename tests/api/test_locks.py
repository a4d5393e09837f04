"""GET /locks: the org's locked resources, read from Prefect's global concurrency limits. Locks held
by running pipeline steps, with their holder run, are in tests/flows/test_pipeline.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient
from prefect.concurrency.asyncio import concurrency

from dalgo.naming import WORKSPACE_RESOURCE, connection_lock, connection_tag, dbt_workspace_lock, lock_name
from tests.api.connection_support import make_connection
from tests.support.accounts import OrgWithRoles


def test_locks_show_what_is_taken_now_and_only_for_the_org(
    client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org, other = make_org_with_roles(), make_org_with_roles()
    connection_id = make_connection(client, org)
    resource = connection_tag(connection_id)

    def locks(owner: OrgWithRoles) -> httpx.Response:
        response: httpx.Response = client.get(
            f"/api/v1/orgs/{owner.slug}/locks", headers=owner.headers["guest"]
        )
        return response

    assert locks(org).status_code == 200 and locks(org).json() == []

    async def while_held() -> tuple[httpx.Response, httpx.Response]:
        async with concurrency(lock_name(org.slug, resource), lease_duration=60, strict=True):
            return await asyncio.to_thread(locks, org), await asyncio.to_thread(locks, other)

    mine, theirs = asyncio.run(while_held())
    assert mine.json() == [{"resource": resource, "holder_run_id": None, "since": None}]
    assert theirs.json() == []
    assert locks(org).json() == []
    assert lock_name(org.slug, WORKSPACE_RESOURCE) == dbt_workspace_lock(org.slug)
    assert lock_name(org.slug, resource) == connection_lock(org.slug, connection_id)
    outsider = client.get(f"/api/v1/orgs/{other.slug}/locks", headers=org.headers["super-admin"])
    assert outsider.status_code == 404
