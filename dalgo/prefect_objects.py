"""Finding and removing what an org owns in Prefect: blocks (by name), deployments, flow runs and
concurrency limits (by tag or name). Shared by the deployment factory and the org-deletion flow.

Prefect's client has no call for some filters and counts the platform needs (block documents by
name pattern, counts); those go through `_post`, the one raw request to the Prefect API."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.orchestration.routes import ServerRoutes
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterTags,
)
from prefect.exceptions import ObjectNotFound

from dalgo.naming import org_limit_name, org_lock_prefix, org_object_name, org_object_prefix, org_tag

PAGE = 200


async def _post(client: PrefectClient, path: ServerRoutes, body: dict[str, Any]) -> Any:
    """A POST to the Prefect API for what its client offers no call for; the answer's JSON."""
    response = await client.request("POST", path, json=body)
    response.raise_for_status()
    return response.json()


def _block_query(name_like: str, block_type: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"block_documents": {"name": {"like_": name_like}}}
    if block_type is not None:
        query["block_types"] = {"slug": {"any_": [block_type]}}
    return query


async def filter_block_documents(
    client: PrefectClient, name_like: str, block_type: str | None = None, limit: int = PAGE, offset: int = 0
) -> list[dict[str, Any]]:
    """One page of the block documents (as Prefect's API returns them, without their secrets) whose
    name matches the SQL LIKE pattern `name_like`, of one block type when `block_type` is given."""
    body = {**_block_query(name_like, block_type), "include_secrets": False, "limit": limit, "offset": offset}
    documents: list[dict[str, Any]] = await _post(client, "/block_documents/filter", body)
    return documents


async def count_block_documents(client: PrefectClient, name_like: str, block_type: str | None = None) -> int:
    """How many block documents `filter_block_documents` finds over all its pages."""
    return int(await _post(client, "/block_documents/count", _block_query(name_like, block_type)))


async def count_deployments(client: PrefectClient, deployment_filter: DeploymentFilter) -> int:
    """How many deployments the filter matches."""
    body = {"deployments": deployment_filter.model_dump(mode="json")}
    return int(await _post(client, "/deployments/count", body))


async def org_block_documents(client: PrefectClient, org: str) -> list[dict[str, Any]]:
    """The org's block documents (`id`, `name`), found by the slug prefix of their names."""
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        documents = await filter_block_documents(client, f"{org_object_prefix(org)}%", offset=offset)
        page = [{"id": uuid.UUID(d["id"]), "name": d["name"]} for d in documents]
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


async def org_concurrency_limit_names(client: PrefectClient, org: str) -> list[str]:
    """The org's global concurrency limits (locks, and the tag limit on `org:<slug>`)."""
    limits = await _all_pages(lambda offset: client.read_global_concurrency_limits(limit=PAGE, offset=offset))
    return [
        limit.name
        for limit in limits
        if limit.name.startswith(org_lock_prefix(org)) or limit.name == org_limit_name(org)
    ]
