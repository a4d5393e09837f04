"""An org's ingestion engine: the embedded connectors (default) or the platform's Airbyte server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, status

from dalgo.api.deps import OrgContext, PrefectDep, require
from dalgo.api.schemas.ingestion import IngestionEnginePublic, IngestionEngineUpdate
from dalgo.deployments.ingestion import EngineChoiceError, EngineState, choose_engine, engine_state

router = APIRouter(prefix="/orgs/{org}/ingestion-engine", tags=["sources"])


def _public(state: EngineState) -> IngestionEnginePublic:
    return IngestionEnginePublic(
        engine=state.engine, workspace_id=state.workspace_id, airbyte_server_available=state.server_configured
    )


@router.get("", response_model=IngestionEnginePublic)
async def read_engine(
    member: Annotated[OrgContext, require("can_view_warehouse")], client: PrefectDep
) -> IngestionEnginePublic:
    """Which engine syncs the org's connections, and its Airbyte workspace once it has one."""
    return _public(await engine_state(client, member.org.slug))


@router.put("", response_model=IngestionEnginePublic)
async def set_engine(
    body: IngestionEngineUpdate,
    member: Annotated[OrgContext, require("can_edit_warehouse")],
    client: PrefectDep,
) -> IngestionEnginePublic:
    """Choose the engine; 422 when the platform has no Airbyte server or the warehouse cannot take it.
    The org's Airbyte workspace is made on its first sync there."""
    try:
        return _public(await choose_engine(client, member.org.slug, body.engine))
    except EngineChoiceError as exc:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
