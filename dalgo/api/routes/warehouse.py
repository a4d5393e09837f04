"""The org's warehouse: set it up (checked first), read it masked, remove it, check it as a run,
list and preview its tables."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, HTTPException, Query, Response, status
from prefect.client.orchestration import PrefectClient
from starlette.concurrency import run_in_threadpool

from dalgo.api.deps import OrgContext, PrefectDep, SettingsDep, require
from dalgo.api.schemas import FlowRunStarted
from dalgo.api.warehouse_schemas import (
    BigQueryWarehouseCreate,
    DuckDBWarehouseCreate,
    PostgresWarehouseCreate,
    TablePreviewPublic,
    TablePublic,
    WarehouseCreate,
)
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.blocks.warehouses.base import CheckResult, UnknownTableError
from dalgo.blocks.warehouses.duckdb import UnsafeDuckDBPathError, place_in_folder
from dalgo.deployments.operations import CHECK_WAREHOUSE, start_operation
from dalgo.flows.warehouse import warehouse_block_name
from dalgo.settings import Settings

router = APIRouter(prefix="/orgs/{org}/warehouse", tags=["warehouse"])

NO_WAREHOUSE = "This organization has no warehouse yet: set one up with PUT .../warehouse."
CHECK_TIMEOUT_S = 30.0


async def load_warehouse(client: PrefectClient, org: str) -> WarehouseBlock | None:
    """The org's saved warehouse block, or None."""
    try:
        return await WarehouseBlock.aload(warehouse_block_name(org), client=client)
    except ValueError:
        return None


async def _require_warehouse(client: PrefectClient, org: str) -> WarehouseBlock:
    warehouse = await load_warehouse(client, org)
    if warehouse is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=NO_WAREHOUSE)
    return warehouse


def _block_from(
    body: WarehouseCreate, existing: WarehouseBlock | None, settings: Settings, org: str
) -> WarehouseBlock:
    """The block the body describes; a secret left out keeps the saved one of the same type."""
    same_type = existing if existing is not None and existing.type == body.type else None
    if isinstance(body, PostgresWarehouseCreate):
        return WarehouseBlock(
            type="postgres",
            host=body.host,
            port=body.port,
            database=body.database,
            user=body.user,
            password=body.password or (same_type.password if same_type else None),
            schema_name=body.schema_name,
        )
    if isinstance(body, BigQueryWarehouseCreate):
        credentials = body.credentials_json or (same_type.credentials_json if same_type else None)
        if credentials is None:
            raise HTTPException(
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail="A BigQuery warehouse needs credentials_json: a service-account key.",
            )
        return WarehouseBlock(
            type="bigquery",
            project=body.project,
            dataset=body.dataset,
            location=body.location,
            credentials_json=credentials,
        )
    assert isinstance(body, DuckDBWarehouseCreate)
    folder = settings.org_home(org)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        path = place_in_folder(folder, body.path)
    except UnsafeDuckDBPathError as exc:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    return WarehouseBlock(type="duckdb", path=str(path), schema_name=body.schema_name)


async def _check(warehouse: WarehouseBlock) -> CheckResult:
    try:
        with anyio.fail_after(CHECK_TIMEOUT_S):
            return await run_in_threadpool(warehouse.check)
    except TimeoutError:
        return CheckResult(ok=False, message=f"no answer within {CHECK_TIMEOUT_S:g} seconds")


@router.put("", response_model=dict[str, Any])
async def save_warehouse(
    body: Annotated[WarehouseCreate, Body()],
    member: Annotated[OrgContext, require("can_edit_warehouse")],
    client: PrefectDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Check the connection, then save the warehouse (secrets are kept in an encrypted Prefect block)."""
    existing = await load_warehouse(client, member.org.slug)
    warehouse = _block_from(body, existing, settings, member.org.slug)
    checked = await _check(warehouse)
    if not checked.ok:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"The warehouse did not accept the connection: {checked.message}",
        )
    await warehouse.asave(warehouse_block_name(member.org.slug), overwrite=True, client=client)
    return warehouse.masked()


@router.get("", response_model=dict[str, Any])
async def read_warehouse(
    member: Annotated[OrgContext, require("can_view_warehouse")], client: PrefectDep
) -> dict[str, Any]:
    """The warehouse settings, secrets masked."""
    return (await _require_warehouse(client, member.org.slug)).masked()


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_warehouse(
    member: Annotated[OrgContext, require("can_delete_warehouse")], client: PrefectDep
) -> Response:
    """Forget the warehouse (its data stays where it is)."""
    await _require_warehouse(client, member.org.slug)
    await WarehouseBlock.adelete(warehouse_block_name(member.org.slug), client=client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/check", response_model=FlowRunStarted, status_code=status.HTTP_202_ACCEPTED)
async def check_warehouse(
    member: Annotated[OrgContext, require("can_edit_warehouse")], client: PrefectDep, settings: SettingsDep
) -> FlowRunStarted:
    """Check the saved warehouse as a run (kind `check`); its result is `{ok, message}`."""
    run_id = await start_operation(
        client, settings, CHECK_WAREHOUSE, member.org.slug, {"org": member.org.slug}, member.user.email
    )
    return FlowRunStarted(flow_run_id=run_id)


def _unreachable(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_502_BAD_GATEWAY, detail=f"The warehouse did not answer: {message}"
    )


@router.get("/tables", response_model=list[TablePublic])
async def list_tables(
    member: Annotated[OrgContext, require("can_view_warehouse_data")], client: PrefectDep
) -> list[TablePublic]:
    """Every table and view of the warehouse, by schema."""
    warehouse = await _require_warehouse(client, member.org.slug)
    try:
        tables = await run_in_threadpool(warehouse.list_tables)
    except Exception as exc:
        raise _unreachable(warehouse.backend().error_reason(exc)) from exc
    return [TablePublic(schema_name=t.schema, table=t.table) for t in tables]


@router.get("/tables/{schema}/{table}", response_model=TablePreviewPublic)
async def preview_table(
    schema: str,
    table: str,
    member: Annotated[OrgContext, require("can_view_warehouse_data")],
    client: PrefectDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TablePreviewPublic:
    """The first rows of a table; the names are checked against the warehouse's own catalogue."""
    warehouse = await _require_warehouse(client, member.org.slug)
    try:
        preview = await run_in_threadpool(warehouse.preview, schema, table, limit)
    except UnknownTableError as exc:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except Exception as exc:
        raise _unreachable(warehouse.backend().error_reason(exc)) from exc
    return TablePreviewPublic(columns=preview.columns, rows=preview.rows)
