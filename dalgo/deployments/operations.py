"""One-off operations (check a warehouse, delete an org, ...) started as tagged flow runs.

Each operation is one platform deployment of its flow, made on first use; every run of it for an
org carries `org:<slug>` and `kind:<kind>`, and a name that starts with the slug.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound

from dalgo.deployments.work_pools import ensure_work_pool
from dalgo.naming import (
    CHECK_SOURCE_FLOW_NAME,
    CHECK_WAREHOUSE_FLOW_NAME,
    DBT_OPERATION_FLOW_NAME,
    DELETE_ORG_FLOW_NAME,
    DISCOVER_SOURCE_FLOW_NAME,
    GIT_PULL_OPERATION,
    OPERATIONS_TAG,
    kind_tag,
    org_object_name,
    org_tag,
    triggered_by_tag,
)
from dalgo.settings import Settings


@dataclass(frozen=True)
class Operation:
    """A flow the platform runs on demand, and the kind its runs are listed as."""

    name: str
    flow_name: str
    entrypoint: str
    kind: str
    description: str


CHECK_WAREHOUSE = Operation(
    name=CHECK_WAREHOUSE_FLOW_NAME,
    flow_name=CHECK_WAREHOUSE_FLOW_NAME,
    entrypoint="dalgo.flows.warehouse.check_warehouse",
    kind="check",
    description="Check that an org's warehouse answers.",
)
DELETE_ORG = Operation(
    name=DELETE_ORG_FLOW_NAME,
    flow_name=DELETE_ORG_FLOW_NAME,
    entrypoint="dalgo.flows.org.delete_org",
    kind="maintenance",
    description="Remove everything an org owns in Prefect, then the org itself.",
)

CHECK_SOURCE = Operation(
    name=CHECK_SOURCE_FLOW_NAME,
    flow_name=CHECK_SOURCE_FLOW_NAME,
    entrypoint="dalgo.flows.sources.check_source_flow",
    kind="check",
    description="Check that a source's connector can connect.",
)
DISCOVER_SOURCE = Operation(
    name=DISCOVER_SOURCE_FLOW_NAME,
    flow_name=DISCOVER_SOURCE_FLOW_NAME,
    entrypoint="dalgo.flows.sources.discover_source_flow",
    kind="discover",
    description="List the streams a source offers.",
)

DBT_OPERATION = Operation(
    name=DBT_OPERATION_FLOW_NAME,
    flow_name=DBT_OPERATION_FLOW_NAME,
    entrypoint="dalgo.flows.transform.dbt_operation",
    kind="dbt",
    description="Run a dbt command on an org's dbt workspace.",
)
GIT_PULL = Operation(
    name=GIT_PULL_OPERATION,
    flow_name=DBT_OPERATION_FLOW_NAME,
    entrypoint="dalgo.flows.transform.dbt_operation",
    kind="git",
    description="Pull the git repository of an org's dbt workspace.",
)

_known_deployments: dict[tuple[str, str, str], uuid.UUID] = {}


async def ensure_operation_deployment(
    client: PrefectClient, settings: Settings, operation: Operation
) -> uuid.UUID:
    """The operation's deployment (created or updated; the same call twice changes nothing)."""
    await ensure_work_pool(client, settings)
    flow_id = await client.create_flow_from_name(operation.flow_name)
    deployment_id = await client.create_deployment(
        flow_id=flow_id,
        name=operation.name,
        entrypoint=operation.entrypoint,
        work_pool_name=settings.work_pool,
        tags=[OPERATIONS_TAG, kind_tag(operation.kind)],
        description=operation.description,
        pull_steps=[],
        enforce_parameter_schema=False,
    )
    _known_deployments[(str(settings.prefect_api_url), settings.work_pool, operation.name)] = deployment_id
    return deployment_id


async def start_operation(
    client: PrefectClient,
    settings: Settings,
    operation: Operation,
    org: str,
    parameters: dict[str, Any],
    triggered_by: str | None,
    extra_tags: tuple[str, ...] = (),
    tag_with_org: bool = True,
) -> uuid.UUID:
    """Start the operation for the org as a flow run and return its id (the caller polls it)."""
    key = (str(settings.prefect_api_url), settings.work_pool, operation.name)
    deployment_id = _known_deployments.get(key) or await ensure_operation_deployment(
        client, settings, operation
    )
    tags = [kind_tag(operation.kind), *extra_tags]
    if tag_with_org:
        tags.insert(0, org_tag(org))
    if triggered_by:
        tags.append(triggered_by_tag(triggered_by))
    name = org_object_name(org, operation.name, uuid.uuid4().hex[:8])
    try:
        run = await client.create_flow_run_from_deployment(
            deployment_id, parameters=parameters, tags=tags, name=name
        )
    except ObjectNotFound:
        deployment_id = await ensure_operation_deployment(client, settings, operation)
        run = await client.create_flow_run_from_deployment(
            deployment_id, parameters=parameters, tags=tags, name=name
        )
    return run.id
