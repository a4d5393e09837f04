"""An org's connections: a source's streams into a warehouse schema, synced as runs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import JSONResponse
from prefect.client.orchestration import PrefectClient

from dalgo.api.deps import OrgContext, PageParams, PrefectDep, SettingsDep, require
from dalgo.api.ratelimit import manual_run
from dalgo.api.schemas.common import FlowRunStarted, Page
from dalgo.api.schemas.connections import ConnectionCreate, ConnectionPublic, ConnectionUpdate
from dalgo.blocks.connection import ConnectionBlock
from dalgo.db.models import Org
from dalgo.deployments import connections, sources
from dalgo.deployments.factory import DeploymentFactoryError
from dalgo.deployments.fairness import placement_of
from dalgo.deployments.ingestion import remove_connection_from_server
from dalgo.deployments.pipelines import pipelines_using
from dalgo.deployments.runs import run_brief
from dalgo.flows.concurrency import connection_resource

router = APIRouter(prefix="/orgs/{org}/connections", tags=["connections"])

CONNECTION_NOT_FOUND = "This organization has no connection with that id."


def _public(
    connection_id: uuid.UUID, block: ConnectionBlock, holder: Any = None, last: Any = None
) -> ConnectionPublic:
    return ConnectionPublic(
        id=connection_id,
        name=block.title,
        source_id=uuid.UUID(block.source_id),
        streams=block.streams,
        destination_schema=block.destination_schema,
        locked_by=run_brief(holder),
        last_run=run_brief(last),
    )


async def _connection(client: PrefectClient, org: str, connection_id: uuid.UUID) -> ConnectionBlock:
    block = await connections.load_connection(client, org, connection_id)
    if block is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=CONNECTION_NOT_FOUND)
    return block


async def _require_source(client: PrefectClient, org: str, source_id: uuid.UUID) -> None:
    if await sources.load_source(client, org, source_id) is None:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"This organization has no source with the id {source_id}.",
        )


async def _apply(
    client: PrefectClient, settings: Any, org: Org, connection_id: uuid.UUID, block: ConnectionBlock
) -> None:
    try:
        await connections.apply_connection(
            client, settings, org.slug, connection_id, block, placement_of(org, settings)
        )
    except DeploymentFactoryError as exc:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc


@router.post("", response_model=ConnectionPublic, status_code=status.HTTP_201_CREATED)
async def create_connection(
    body: ConnectionCreate,
    member: Annotated[OrgContext, require("can_create_connection")],
    client: PrefectDep,
    settings: SettingsDep,
) -> ConnectionPublic:
    """Make a connection: its block, its sync deployment and its lock, all or nothing."""
    await _require_source(client, member.org.slug, body.source_id)
    connection_id = uuid.uuid4()
    block = ConnectionBlock(
        title=body.name,
        source_id=str(body.source_id),
        streams=body.streams,
        destination_schema=body.destination_schema,
    )
    await _apply(client, settings, member.org, connection_id, block)
    return _public(connection_id, block)


@router.get("", response_model=Page[ConnectionPublic])
async def list_connections(
    member: Annotated[OrgContext, require("can_view_connections")], client: PrefectDep, page: PageParams
) -> Page[ConnectionPublic]:
    """The org's connections with their lock state and last run (a fixed number of Prefect queries)."""
    found, total = await connections.list_connections(client, member.org.slug, page.limit, page.offset)
    ids = [c.id for c in found]
    holders = await connections.active_syncs(client, member.org.slug, ids)
    latest = await connections.last_syncs(client, member.org.slug, ids)
    return Page(
        data=[
            _public(
                c.id,
                c.block,
                holders.get(connections.connection_tag(c.id)),
                latest.get(connections.connection_tag(c.id)),
            )
            for c in found
        ],
        count=total,
    )


@router.get("/{connection_id}", response_model=ConnectionPublic)
async def read_connection(
    connection_id: uuid.UUID,
    member: Annotated[OrgContext, require("can_view_connections")],
    client: PrefectDep,
) -> ConnectionPublic:
    """One connection with its lock state and last run."""
    block = await _connection(client, member.org.slug, connection_id)
    holders = await connections.active_syncs(client, member.org.slug, [connection_id])
    latest = await connections.last_syncs(client, member.org.slug, [connection_id])
    tag = connections.connection_tag(connection_id)
    return _public(connection_id, block, holders.get(tag), latest.get(tag))


@router.put("/{connection_id}", response_model=ConnectionPublic)
async def update_connection(
    connection_id: uuid.UUID,
    body: ConnectionUpdate,
    member: Annotated[OrgContext, require("can_edit_connection")],
    client: PrefectDep,
    settings: SettingsDep,
) -> ConnectionPublic:
    """Change a connection's name, streams or destination schema."""
    block = await _connection(client, member.org.slug, connection_id)
    changed = ConnectionBlock(
        title=body.name or block.title,
        source_id=block.source_id,
        streams=body.streams if "streams" in body.model_fields_set else block.streams,
        destination_schema=body.destination_schema or block.destination_schema,
    )
    await _apply(client, settings, member.org, connection_id, changed)
    return _public(connection_id, changed)


@router.delete("/{connection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_connection(
    connection_id: uuid.UUID,
    member: Annotated[OrgContext, require("can_delete_connection")],
    client: PrefectDep,
) -> Response:
    """Delete the connection (its data stays in the warehouse); 409 while a pipeline has it as a step."""
    await _connection(client, member.org.slug, connection_id)
    users = await pipelines_using(client, member.org.slug, connection_resource(connection_id))
    if users:
        names = ", ".join(f"'{p.definition.name}'" for p in users)
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"This connection is a step of the pipeline {names}; remove it from there first.",
        )
    await remove_connection_from_server(client, member.org.slug, str(connection_id))
    await connections.delete_connection(client, member.org.slug, connection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{connection_id}/sync",
    response_model=FlowRunStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "A sync of the connection is under way; `holder_run_id` names it."}},
)
async def sync_connection(
    connection_id: uuid.UUID,
    member: Annotated[OrgContext, manual_run("can_sync_connection")],
    client: PrefectDep,
) -> Any:
    """Start a sync; 409 with the holder's run id while one of this connection is under way."""
    await _connection(client, member.org.slug, connection_id)
    try:
        run_id = await connections.start_sync(client, member.org.slug, connection_id, member.user.email)
    except connections.ConnectionBusyError as exc:
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT,
            content={"detail": str(exc), "holder_run_id": str(exc.holder.id)},
        )
    return FlowRunStarted(flow_run_id=run_id)
