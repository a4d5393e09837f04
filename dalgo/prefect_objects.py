"""Finding and removing what an org owns in Prefect: blocks (by name), deployments, flow runs and
concurrency limits (by tag or name). Shared by the deployment factory and the org-deletion flow."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterTags,
)
from prefect.exceptions import ObjectNotFound

from dalgo.naming import org_object_name, org_object_prefix, org_tag

PAGE = 200


async def org_block_documents(client: PrefectClient, org: str) -> list[dict[str, Any]]:
    """The org's block documents (`id`, `name`), found by the slug prefix of their names."""
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = await client.request(
            "POST",
            "/block_documents/filter",
            json={
                "block_documents": {"name": {"like_": f"{org_object_prefix(org)}%"}},
                "include_secrets": False,
                "offset": offset,
                "limit": PAGE,
            },
        )
        response.raise_for_status()
        page = [{"id": uuid.UUID(d["id"]), "name": d["name"]} for d in response.json()]
        found.extend(d for d in page if d["name"].startswith(org_object_prefix(org)))
        if len(page) < PAGE:
            return found
        offset += PAGE


async def delete_org_block(client: PrefectClient, org: str, suffix: str) -> bool:
    """Delete the org's block named with this suffix, of any type; False when there is none."""
    name = org_object_name(org, suffix)
    for document in await org_block_documents(client, org):
        if document["name"] == name:
            try:
                await client.delete_block_document(document["id"])
            except ObjectNotFound:
                return False
            return True
    return False


async def _all_pages(read_page: Callable[[int], Awaitable[list[Any]]]) -> list[Any]:
    """Every item of a paged Prefect read, page by page."""
    items: list[Any] = []
    offset = 0
    while True:
        page = await read_page(offset)
        items.extend(page)
        if len(page) < PAGE:
            return items
        offset += PAGE


async def org_deployment_ids(client: PrefectClient, org: str) -> list[uuid.UUID]:
    """Every deployment tagged with the org."""
    deployments = await _all_pages(
        lambda offset: client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[org_tag(org)])),
            limit=PAGE,
            offset=offset,
        )
    )
    return [d.id for d in deployments]


async def org_flow_run_ids(client: PrefectClient, org: str) -> list[uuid.UUID]:
    """Every flow run tagged with the org."""
    runs = await _all_pages(
        lambda offset: client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[org_tag(org)])),
            limit=PAGE,
            offset=offset,
        )
    )
    return [r.id for r in runs]


def org_lock_prefix(org: str) -> str:
    """Global concurrency limits that lock an org's resources are named `lock:<org>:<resource>`."""
    return f"lock:{org}:"


async def org_concurrency_limit_names(client: PrefectClient, org: str) -> list[str]:
    """The org's global concurrency limits (locks, and the tag limit on `org:<slug>`)."""
    limits = await _all_pages(lambda offset: client.read_global_concurrency_limits(limit=PAGE, offset=offset))
    return [
        limit.name
        for limit in limits
        if limit.name.startswith(org_lock_prefix(org)) or limit.name == f"tag:{org_tag(org)}"
    ]
