"""Connector definitions and an org's sources: configure (validated against the connector's
spec; secrets kept apart and masked), check and discover as runs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response, status
from starlette.concurrency import run_in_threadpool

from dalgo.api.deps import OrgContext, PageParams, PrefectDep, SettingsDep, require
from dalgo.api.schemas.common import FlowRunStarted, Page
from dalgo.api.schemas.sources import SourceCreate, SourceDefinitionPublic, SourcePublic, SourceUpdate
from dalgo.blocks.source import SourceBlock
from dalgo.connectors.catalogue import UnknownConnectorError, catalogue, connector
from dalgo.connectors.spec import connector_spec, mask_secrets, merge_secrets, split_secrets, validate_config
from dalgo.deployments import sources
from dalgo.deployments.ingestion import remove_source_from_server
from dalgo.deployments.operations import CHECK_SOURCE, DISCOVER_SOURCE, Operation, start_operation
from dalgo.netguard import MASK, changed_address_fields, config_problems, moved_secret_message, where_it_went
from dalgo.settings import Settings

definitions_router = APIRouter(prefix="/orgs/{org}/source-definitions", tags=["sources"])
router = APIRouter(prefix="/orgs/{org}/sources", tags=["sources"])

SOURCE_NOT_FOUND = "This organization has no source with that id."


async def _spec(settings: Settings, name: str) -> dict[str, Any]:
    try:
        found = connector(name)
    except UnknownConnectorError as exc:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    spec: dict[str, Any] = await run_in_threadpool(connector_spec, found, settings.resolved_connectors_dir)
    return spec


@definitions_router.get("", response_model=list[SourceDefinitionPublic])
def list_source_definitions(
    member: Annotated[OrgContext, require("can_view_sources")],
) -> list[SourceDefinitionPublic]:
    """The connectors sources can be made from."""
    return [SourceDefinitionPublic(name=c.name, title=c.title) for c in catalogue()]


@definitions_router.get("/{name}/spec", response_model=dict[str, Any])
async def read_source_definition_spec(
    name: str, member: Annotated[OrgContext, require("can_view_sources")], settings: SettingsDep
) -> dict[str, Any]:
    """The connector's configuration JSON schema (fields marked `airbyte_secret` are write-only)."""
    return await _spec(settings, name)


def _checked(spec: dict[str, Any], config: dict[str, Any]) -> None:
    problems = validate_config(spec, config)
    if problems:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="The configuration does not fit the connector: " + "; ".join(problems) + ".",
        )


def _public(source_id: uuid.UUID, block: SourceBlock, spec: dict[str, Any]) -> SourcePublic:
    full = merge_secrets(block.config, block.secrets.get_secret_value())
    return SourcePublic(
        id=source_id, name=block.title, definition=block.definition, config=mask_secrets(spec, full)
    )


@router.post("", response_model=SourcePublic, status_code=status.HTTP_201_CREATED)
async def create_source(
    body: SourceCreate,
    member: Annotated[OrgContext, require("can_create_source")],
    client: PrefectDep,
    settings: SettingsDep,
) -> SourcePublic:
    """Make a source; the configuration is checked against the connector's spec first."""
    spec = await _spec(settings, body.definition)
    _checked(spec, body.config)
    await _reachable(body.config, settings)
    public, secrets = split_secrets(spec, body.config)
    source_id = uuid.uuid4()
    block = SourceBlock(title=body.name, definition=body.definition, config=public, secrets=secrets)
    await sources.save_source(client, member.org.slug, source_id, block)
    return _public(source_id, block, spec)


@router.get("", response_model=Page[SourcePublic])
async def list_org_sources(
    member: Annotated[OrgContext, require("can_view_sources")], client: PrefectDep, page: PageParams
) -> Page[SourcePublic]:
    """The org's sources (secrets are not part of the listed configuration)."""
    found, total = await sources.list_sources(client, member.org.slug, page.limit, page.offset)
    return Page(
        data=[SourcePublic(id=s.id, name=s.name, definition=s.definition, config=s.config) for s in found],
        count=total,
    )


async def _source(client: Any, org: str, source_id: uuid.UUID) -> SourceBlock:
    block = await sources.load_source(client, org, source_id)
    if block is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=SOURCE_NOT_FOUND)
    return block


@router.get("/{source_id}", response_model=SourcePublic)
async def read_source(
    source_id: uuid.UUID,
    member: Annotated[OrgContext, require("can_view_sources")],
    client: PrefectDep,
    settings: SettingsDep,
) -> SourcePublic:
    """One source, secrets masked."""
    block = await _source(client, member.org.slug, source_id)
    return _public(source_id, block, await _spec(settings, block.definition))


@router.put("/{source_id}", response_model=SourcePublic)
async def update_source(
    source_id: uuid.UUID,
    body: SourceUpdate,
    member: Annotated[OrgContext, require("can_edit_source")],
    client: PrefectDep,
    settings: SettingsDep,
) -> SourcePublic:
    """Change a source's name or configuration; a secret sent back masked (or left out) is kept."""
    block = await _source(client, member.org.slug, source_id)
    spec = await _spec(settings, block.definition)
    if body.config is not None:
        kept = _kept_secrets(spec, block, body.config)
        config = merge_secrets(body.config, kept)
        _checked(spec, config)
        await _reachable(config, settings)
        public, secrets = split_secrets(spec, config)
        block = SourceBlock(title=block.title, definition=block.definition, config=public, secrets=secrets)
    if body.name is not None:
        block = SourceBlock(
            title=body.name,
            definition=block.definition,
            config=block.config,
            secrets=block.secrets.get_secret_value(),
        )
    await sources.save_source(client, member.org.slug, source_id, block)
    return _public(source_id, block, spec)


def _kept_secrets(spec: dict[str, Any], block: SourceBlock, config: dict[str, Any]) -> dict[str, Any]:
    """The saved secrets the new config keeps (sent masked or left out), by dotted path.

    A secret follows its address: when a field saying where the config connects (host, port, URL,
    user, storage, ...) changed, a secret sent masked is refused with a 422 asking for it again, and
    one left out is dropped (the spec then asks for it when it is still needed)."""
    saved = block.secrets.get_secret_value()
    kept = {k: v for k, v in saved.items() if _masked_or_missing(config, k)}
    if not kept:
        return kept
    new_public, _ = split_secrets(spec, config)
    changed = changed_address_fields(block.config, new_public)
    if not changed:
        return kept
    masked = [k for k in kept if _masked(config, k)]
    if masked:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=moved_secret_message(_names(masked), where_it_went(block.config, changed)),
        )
    return {}


def _names(dotted_paths: list[str]) -> list[str]:
    """Secrets by their field's own name (`password`), or by path where two share a name."""
    last = [dotted.rsplit(".", 1)[-1] for dotted in dotted_paths]
    return last if len(set(last)) == len(last) else dotted_paths


_MISSING = object()


def _at(config: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path of the config, or `_MISSING`."""
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _masked(config: dict[str, Any], dotted: str) -> bool:
    return bool(_at(config, dotted) == MASK)


async def _reachable(config: dict[str, Any], settings: Settings) -> None:
    """422 when the config names a host or URL the platform may not connect to (outbound guard)."""
    problems = await run_in_threadpool(config_problems, config, settings)
    if problems:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="The configuration names an address the platform does not connect to: "
            + "; ".join(problems),
        )


def _masked_or_missing(config: dict[str, Any], dotted: str) -> bool:
    value = _at(config, dotted)
    return value is _MISSING or bool(value == MASK)


@router.delete("/{source_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_source(
    source_id: uuid.UUID, member: Annotated[OrgContext, require("can_delete_source")], client: PrefectDep
) -> Response:
    """Delete the source (from the org's Airbyte workspace first, when it has one)."""
    await _source(client, member.org.slug, source_id)
    await remove_source_from_server(client, member.org.slug, str(source_id))
    if not await sources.delete_source(client, member.org.slug, source_id):
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=SOURCE_NOT_FOUND)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _start(
    operation: Operation, source_id: uuid.UUID, member: OrgContext, client: Any, settings: Settings
) -> FlowRunStarted:
    await _source(client, member.org.slug, source_id)
    run_id = await start_operation(
        client,
        settings,
        operation,
        member.org.slug,
        {"org": member.org.slug, "source_id": str(source_id)},
        member.user.email,
        extra_tags=(f"source:{source_id}",),
    )
    return FlowRunStarted(flow_run_id=run_id)


@router.post("/{source_id}/check", response_model=FlowRunStarted, status_code=status.HTTP_202_ACCEPTED)
async def check_source(
    source_id: uuid.UUID,
    member: Annotated[OrgContext, require("can_edit_source")],
    client: PrefectDep,
    settings: SettingsDep,
) -> FlowRunStarted:
    """Check the source's connection as a run (kind `check`); its result is `{ok, message}`."""
    return await _start(CHECK_SOURCE, source_id, member, client, settings)


@router.post("/{source_id}/discover", response_model=FlowRunStarted, status_code=status.HTTP_202_ACCEPTED)
async def discover_source(
    source_id: uuid.UUID,
    member: Annotated[OrgContext, require("can_edit_source")],
    client: PrefectDep,
    settings: SettingsDep,
) -> FlowRunStarted:
    """Discover the source's streams as a run (kind `discover`); its result is `{streams}`."""
    return await _start(DISCOVER_SOURCE, source_id, member, client, settings)
