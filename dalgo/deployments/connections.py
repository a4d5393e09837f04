"""An org's connections: a block and a sync deployment each, a lock (a global concurrency limit
of 1), and their sync runs. Lists use a bounded number of Prefect queries, whatever their length."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from dalgo.blocks.connection import ConnectionBlock
from dalgo.deployments.factory import (
    OrgDeploymentSpec,
    apply_org_deployment,
    delete_org_deployment,
    find_org_deployment,
)
from dalgo.deployments.fairness import Placement, ensure_placement
from dalgo.flows.concurrency import is_held, read_limit
from dalgo.naming import (
    CONNECTION_BLOCK_TYPE,
    SYNC_FLOW_NAME,
    connection_block_name,
    connection_block_prefix,
    connection_block_suffix,
    connection_lock,
    kind_tag,
    org_tag,
    sync_deployment_suffix,
    sync_run_name,
    triggered_by_tag,
)
from dalgo.naming import connection_tag as connection_tag
from dalgo.prefect_objects import count_block_documents, filter_block_documents
from dalgo.settings import Settings

ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED]
DEAD_SYNC_AFTER = timedelta(seconds=30)
"""A sync run takes its connection's lock within seconds of starting (or shows that it waits for
it): one running longer than this without it has died."""


def _spec(
    org: str, connection_id: uuid.UUID, block: ConnectionBlock, placement: Placement | None
) -> OrgDeploymentSpec:
    return OrgDeploymentSpec(
        org=org,
        kind="sync",
        name=sync_deployment_suffix(connection_id),
        flow_name=SYNC_FLOW_NAME,
        entrypoint="dalgo.flows.ingest.sync_connection",
        parameters={"org": org, "connection_id": str(connection_id)},
        description=f"Sync {block.title}",
        extra_tags=(connection_tag(connection_id),),
        blocks={connection_block_suffix(connection_id): block},
        work_pool=placement.work_pool if placement else None,
        work_queue=placement.work_queue if placement else None,
    )


async def apply_connection(
    client: PrefectClient,
    settings: Settings,
    org: str,
    connection_id: uuid.UUID,
    block: ConnectionBlock,
    placement: Placement | None = None,
) -> None:
    """Save the connection's block and sync deployment (all or nothing; its runs go to the org's
    work pool and queue) and make sure its lock exists."""
    if placement is not None:
        await ensure_placement(client, settings, placement)
    await apply_org_deployment(client, settings, _spec(org, connection_id, block, placement))
    try:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=connection_lock(org, str(connection_id)), limit=1)
        )
    except ObjectAlreadyExists:
        pass
    except Exception:
        await delete_org_deployment(
            client, org, sync_deployment_suffix(connection_id), (connection_block_suffix(connection_id),)
        )
        raise


async def delete_connection(client: PrefectClient, org: str, connection_id: uuid.UUID) -> bool:
    """Remove the connection's deployment, block and lock; False when there was none."""
    deleted = await delete_org_deployment(
        client, org, sync_deployment_suffix(connection_id), (connection_block_suffix(connection_id),)
    )
    with contextlib.suppress(ObjectNotFound):
        await client.delete_global_concurrency_limit_by_name(connection_lock(org, str(connection_id)))
    return deleted


async def load_connection(
    client: PrefectClient, org: str, connection_id: uuid.UUID
) -> ConnectionBlock | None:
    try:
        block: ConnectionBlock = await ConnectionBlock.aload(
            connection_block_name(org, str(connection_id)), client=client
        )
    except ValueError:
        return None
    return block


@dataclass(frozen=True)
class ConnectionSummary:
    id: uuid.UUID
    block: ConnectionBlock


async def list_connections(
    client: PrefectClient, org: str, limit: int, offset: int
) -> tuple[list[ConnectionSummary], int]:
    """The org's connections (one query for the page, one for the count)."""
    await ConnectionBlock.aregister_type_and_schema(client=client)
    prefix = connection_block_prefix(org)
    documents = await filter_block_documents(client, f"{prefix}%", CONNECTION_BLOCK_TYPE, limit, offset)
    count = await count_block_documents(client, f"{prefix}%", CONNECTION_BLOCK_TYPE)
    found = [
        ConnectionSummary(
            uuid.UUID(d["name"].removeprefix(prefix)), ConnectionBlock.model_validate(d["data"])
        )
        for d in documents
        if d["name"].startswith(prefix)
    ]
    return found, count


async def active_syncs(
    client: PrefectClient, org: str, connection_ids: list[uuid.UUID]
) -> dict[str, FlowRun]:
    """The oldest unfinished sync run of each connection that has one (one query)."""
    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[org_tag(org), kind_tag("sync")]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE)),
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=200,
    )
    return _first_by_connection(runs, connection_ids)


async def last_syncs(client: PrefectClient, org: str, connection_ids: list[uuid.UUID]) -> dict[str, FlowRun]:
    """The latest sync run of each connection among the org's recent syncs (one query)."""
    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[org_tag(org), kind_tag("sync")])),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=200,
    )
    return _first_by_connection(runs, connection_ids)


def _first_by_connection(runs: list[FlowRun], connection_ids: list[uuid.UUID]) -> dict[str, FlowRun]:
    """The first of the runs for each of the connections, by connection tag."""
    wanted = {connection_tag(c) for c in connection_ids}
    first: dict[str, FlowRun] = {}
    for run in runs:
        for tag in run.tags:
            if tag in wanted and tag not in first:
                first[tag] = run
    return first


class ConnectionBusyError(RuntimeError):
    """A sync of the connection is already under way."""

    def __init__(self, holder: FlowRun) -> None:
        super().__init__(f"This connection is already syncing (run {holder.id}); wait for it to finish.")
        self.holder = holder


def _may_be_dead(run: FlowRun) -> bool:
    """Whether the run is one that could have died holding nothing: running under its plain name
    (not waiting for a slot or a lock) since longer than a sync takes to reach its lock."""
    state = run.state
    if state is None or state.type != StateType.RUNNING or state.name != "Running":
        return False
    return run.start_time is not None and run.start_time < datetime.now(UTC) - DEAD_SYNC_AFTER


async def live_sync(client: PrefectClient, org: str, connection_id: uuid.UUID) -> FlowRun | None:
    """The oldest unfinished sync run of the connection that is still under way, or None. A run
    still shown running whose connection lock is free (its lease ran out) is one whose process
    died: Prefect marks it crashed only once its heartbeats have been missed for long enough
    (`DALGO_CRASH_AFTER_SILENCE_S`), and a new sync need not wait for that."""
    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[org_tag(org), kind_tag("sync"), connection_tag(connection_id)]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE)),
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=20,
    )
    locked: bool | None = None
    for run in runs:
        if not _may_be_dead(run):
            return run
        if locked is None:
            locked = is_held(await read_limit(client, connection_lock(org, str(connection_id))))
        if locked:
            return run
    return None


async def start_sync(
    client: PrefectClient, org: str, connection_id: uuid.UUID, triggered_by: str | None
) -> uuid.UUID:
    """Start a sync run of the connection; ConnectionBusyError when one is under way."""
    busy = await live_sync(client, org, connection_id)
    if busy is not None:
        raise ConnectionBusyError(busy)
    deployment = await find_org_deployment(client, org, sync_deployment_suffix(connection_id))
    if deployment is None:
        raise LookupError(f"the sync deployment of connection {connection_id} is missing")
    tags = [triggered_by_tag(triggered_by)] if triggered_by else []
    run = await client.create_flow_run_from_deployment(
        deployment.id,
        tags=tags,
        name=sync_run_name(org, connection_id, uuid.uuid4().hex[:6]),
    )
    return run.id
