"""An org's locks as the API shows them: which resources are locked, by which run, since when.

The lock itself is Prefect's global concurrency limit `lock:<org>:<resource>`; the holder is the
running flow run that uses the resource (dalgo/flows/concurrency.py). Two queries answer for all the
org's locks: the limits (paged over the platform's limits, 200 at a time) and the org's runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from pydantic import BaseModel, ConfigDict

from dalgo.flows.concurrency import (
    active_org_runs,
    holder_of,
    is_held,
    read_limit,
    reported_run_id,
    resource_of,
    started_at,
)
from dalgo.naming import lock_name

PAGE = 200


class Lock(BaseModel):
    """A locked resource of the org and the run holding it (None while its lease runs out after the
    run died)."""

    model_config = ConfigDict(frozen=True)

    resource: str
    holder_run_id: uuid.UUID | None
    since: datetime | None


def _lock(resource: str, runs: list[FlowRun]) -> Lock:
    holder = holder_of(runs, resource)
    if holder is None:
        return Lock(resource=resource, holder_run_id=None, since=None)
    return Lock(resource=resource, holder_run_id=reported_run_id(holder), since=started_at(holder))


async def locked_resources(client: PrefectClient, org: str) -> list[str]:
    """The org's resources whose lock is taken now."""
    found: list[str] = []
    offset = 0
    while True:
        page = await client.read_global_concurrency_limits(limit=PAGE, offset=offset)
        for limit in page:
            resource = resource_of(org, limit.name)
            if resource is not None and is_held(limit):
                found.append(resource)
        if len(page) < PAGE:
            return sorted(found)
        offset += PAGE


async def org_locks(client: PrefectClient, org: str) -> list[Lock]:
    """Every lock of the org that is taken, with its holder."""
    resources = await locked_resources(client, org)
    if not resources:
        return []
    runs = await active_org_runs(client, org)
    return [_lock(resource, runs) for resource in resources]


async def locks_of(client: PrefectClient, org: str, resources: list[str]) -> list[Lock]:
    """Those of the given resources that are locked now (one read per resource, one for the runs)."""
    held = [r for r in resources if is_held(await read_limit(client, lock_name(org, r)))]
    if not held:
        return []
    runs = await active_org_runs(client, org)
    return [_lock(resource, runs) for resource in held]
