"""The org's warehouse: set it up (checked first), read it masked, remove it, check it as a run,
list and preview its tables."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Body, HTTPException, Query, Response, status
from prefect.client.orchestration import PrefectClient
from pydantic import SecretStr, TypeAdapter
from starlette.concurrency import run_in_threadpool

from dalgo.api.deps import OrgContext, PrefectDep, SettingsDep, require
from dalgo.api.schemas.common import FlowRunStarted
from dalgo.api.schemas.warehouse import (
    BigQueryWarehouseCreate,
    DuckDBWarehouseCreate,
    PostgresWarehouseCreate,
    TablePreviewPublic,
    TablePublic,
    WarehouseCreate,
    WarehousePublic,
)
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.blocks.warehouses.base import MASK, CheckResult, UnknownTableError
from dalgo.blocks.warehouses.duckdb import UnsafeDuckDBPathError, place_in_folder
from dalgo.deployments import warehouse as warehouses
from dalgo.deployments.operations import CHECK_WAREHOUSE, start_operation
from dalgo.flows.warehouse import outbound_warehouse_problem
from dalgo.netguard import moved_secret_message, outbound_problem
from dalgo.settings import Settings

router = APIRouter(prefix="/orgs/{org}/warehouse", tags=["warehouse"])

NO_WAREHOUSE = "This organization has no warehouse yet: set one up with PUT .../warehouse."
CHECK_TIMEOUT_S = 30.0

_PUBLIC: TypeAdapter[WarehousePublic] = TypeAdapter(WarehousePublic)


def _public(warehouse: WarehouseBlock) -> WarehousePublic:
    """The warehouse as the API shows it: its type's own fields, secrets masked."""
    return _PUBLIC.validate_python(warehouse.masked())


async def _require_warehouse(client: PrefectClient, org: str) -> WarehouseBlock:
    warehouse = await warehouses.load_warehouse(client, org)
    if warehouse is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=NO_WAREHOUSE)
    return warehouse


def _postgres_password(body: PostgresWarehouseCreate, saved: WarehouseBlock | None) -> SecretStr | None:
    """The password to save: a new one; none when sent as null; or the saved one (left out or sent
    masked) while the server, port, user and database stay the same, 422 when they changed (a
    secret follows its address)."""
    if "password" in body.model_fields_set and body.password is None:
        return None
    sent = body.password.get_secret_value() if body.password is not None else None
    if sent is not None and sent != MASK:
        return body.password
    if saved is None or saved.password is None:
        return None
    before = ((saved.host or "").strip().lower(), saved.port, saved.user, saved.database)
    if before != (body.host.strip().lower(), body.port, body.user, body.database):
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=moved_secret_message(["password"], saved.host or "the previous server"),
        )
    return saved.password


async def _outbound_problem(body: WarehouseCreate, settings: Settings) -> str | None:
    """Why the platform may not connect to the warehouse's host (Postgres; BigQuery names none)."""
    if isinstance(body, PostgresWarehouseCreate):
        return await run_in_threadpool(outbound_problem, body.host, settings)
    return None


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
            password=_postgres_password(body, same_type),
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


@router.put("", response_model=WarehousePublic)
async def save_warehouse(
    body: Annotated[WarehouseCreate, Body()],
    member: Annotated[OrgContext, require("can_edit_warehouse")],
    client: PrefectDep,
    settings: SettingsDep,
) -> WarehousePublic:
    """Check the connection, then save the warehouse (secrets are kept in an encrypted Prefect block)."""
    problem = await _outbound_problem(body, settings)
    if problem is not None:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problem)
    existing = await warehouses.load_warehouse(client, member.org.slug)
    warehouse = _block_from(body, existing, settings, member.org.slug)
    checked = await _check(warehouse)
    if not checked.ok:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"The warehouse did not accept the connection: {checked.message}",
        )
    await warehouses.save_warehouse(client, member.org.slug, warehouse)
    return _public(warehouse)


@router.get("", response_model=WarehousePublic)
async def read_warehouse(
    member: Annotated[OrgContext, require("can_view_warehouse")], client: PrefectDep
) -> WarehousePublic:
    """The warehouse settings, secrets masked."""
    return _public(await _require_warehouse(client, member.org.slug))


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_warehouse(
    member: Annotated[OrgContext, require("can_delete_warehouse")], client: PrefectDep
) -> Response:
    """Forget the warehouse (its data stays where it is)."""
    await _require_warehouse(client, member.org.slug)
    await warehouses.delete_warehouse(client, member.org.slug)
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


async def _require_reachable_warehouse(client: PrefectClient, org: str, settings: Settings) -> WarehouseBlock:
    """The saved warehouse, once its host is checked again by the outbound guard (a name's
    addresses can change after it was saved); 422 with the reason when it is refused now."""
    warehouse = await _require_warehouse(client, org)
    problem = await run_in_threadpool(outbound_warehouse_problem, warehouse, settings)
    if problem is not None:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problem)
    return warehouse


def _unreachable(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_502_BAD_GATEWAY, detail=f"The warehouse did not answer: {message}"
    )


@router.get("/tables", response_model=list[TablePublic])
async def list_tables(
    member: Annotated[OrgContext, require("can_view_warehouse_data")],
    client: PrefectDep,
    settings: SettingsDep,
) -> list[TablePublic]:
    """Every table and view of the warehouse, by schema."""
    warehouse = await _require_reachable_warehouse(client, member.org.slug, settings)
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
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TablePreviewPublic:
    """The first rows of a table; the names are checked against the warehouse's own catalogue."""
    warehouse = await _require_reachable_warehouse(client, member.org.slug, settings)
    try:
        preview = await run_in_threadpool(warehouse.preview, schema, table, limit)
    except UnknownTableError as exc:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except Exception as exc:
        raise _unreachable(warehouse.backend().error_reason(exc)) from exc
    return TablePreviewPublic(columns=preview.columns, rows=preview.rows)
