"""The org's dbt workspace: set it up, read it (token masked), remove it, run a command on it as a
flow run, and read the documentation its `docs-generate` command made."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import FileResponse, JSONResponse
from prefect.client.orchestration import PrefectClient
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from dalgo.api.deps import OrgContext, PrefectDep, SettingsDep, require
from dalgo.api.ratelimit import manual_run
from dalgo.api.schemas.common import FlowRunStarted
from dalgo.api.schemas.dbt import DbtOperationCreate, DbtWorkspacePublic, DbtWorkspaceUpdate
from dalgo.blocks.dbt_workspace import (
    SCHEMA_PATTERN,
    DbtWorkspaceBlock,
    branch_problem,
    git_url_problem,
    normalize_project_dir,
)
from dalgo.blocks.warehouses.base import MASK
from dalgo.deployments import dbt
from dalgo.deployments.runs import run_brief
from dalgo.flows.dbt_folders import workspace_folders
from dalgo.flows.dbt_options import operation_problem
from dalgo.flows.git import local_repository_problem
from dalgo.netguard import outbound_problem
from dalgo.settings import Settings

router = APIRouter(prefix="/orgs/{org}/dbt", tags=["dbt"])

NO_WORKSPACE = "This organization has no dbt workspace yet: set one up with PUT .../dbt."
NO_DOCS = "The documentation has not been generated yet: run the docs-generate command first."
DOCS_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts allow-popups",
    "X-Content-Type-Options": "nosniff",
}
"""The docs page runs in an opaque origin: its scripts work but cannot reach the API's storage."""


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


def _busy(exc: dbt.WorkspaceBusyError) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_409_CONFLICT,
        content={"detail": str(exc), "holder_run_id": str(exc.holder.id)},
    )


async def _require_workspace(client: PrefectClient, org: str) -> DbtWorkspaceBlock:
    workspace = await dbt.load_workspace(client, org)
    if workspace is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=NO_WORKSPACE)
    return workspace


def _public(workspace: DbtWorkspaceBlock, holder: Any = None) -> DbtWorkspacePublic:
    return DbtWorkspacePublic(**workspace.masked(), locked_by=run_brief(holder))


def _token(body: DbtWorkspaceUpdate, existing: DbtWorkspaceBlock | None) -> str | None:
    """The token to save: a new one, the saved one (left out or sent masked, same host), or none."""
    sent = body.git_token.get_secret_value() if body.git_token is not None else None
    keep = "git_token" not in body.model_fields_set or sent == MASK
    if not keep:
        return sent or None
    if existing is None or existing.git_token is None:
        return None
    return existing.token() if dbt.same_host(existing.git_url, body.git_url) else None


def _block_from(
    body: DbtWorkspaceUpdate, existing: DbtWorkspaceBlock | None, settings: Settings, org: str
) -> DbtWorkspaceBlock:
    """The block the body describes; 422 with a sentence for what cannot be used."""
    problem = git_url_problem(body.git_url) or local_repository_problem(body.git_url, org, settings)
    if problem is None and body.branch is not None:
        problem = branch_problem(body.branch)
    if problem is None and re.match(SCHEMA_PATTERN, body.target_schema) is None:
        problem = (
            f"{body.target_schema!r} is not a usable schema name: use letters, digits and _, "
            "starting with a letter or _."
        )
    if problem is not None:
        raise _unprocessable(problem)
    try:
        project_dir = normalize_project_dir(body.project_dir)
    except ValueError as exc:
        raise _unprocessable(str(exc)) from exc
    token = _token(body, existing)
    return DbtWorkspaceBlock(
        git_url=body.git_url,
        git_token=SecretStr(token) if token else None,
        branch=body.branch or None,
        project_dir=project_dir,
        target_schema=body.target_schema,
    )


def _git_host_problem(git_url: str, settings: Settings) -> str | None:
    """Why the platform may not reach an https repository's host (outbound guard); `file://`
    repositories are checked by `local_repository_problem`."""
    if urlsplit(git_url).scheme != "https":
        return None
    return outbound_problem(git_url, settings)


@router.put("", response_model=DbtWorkspacePublic)
async def save_workspace(
    body: DbtWorkspaceUpdate,
    member: Annotated[OrgContext, require("can_edit_dbt_workspace")],
    client: PrefectDep,
    settings: SettingsDep,
) -> DbtWorkspacePublic:
    """Set up or change the workspace (the token is kept in an encrypted Prefect block). The
    repository is read by the next command: `git-pull`, or any dbt command on a new checkout."""
    problem = (
        None
        if git_url_problem(body.git_url)
        else await run_in_threadpool(_git_host_problem, body.git_url, settings)
    )
    if problem is not None:
        raise _unprocessable(problem)
    existing = await dbt.load_workspace(client, member.org.slug)
    block = _block_from(body, existing, settings, member.org.slug)
    await dbt.save_workspace(client, member.org.slug, block)
    return _public(block)


@router.get("", response_model=DbtWorkspacePublic)
async def read_workspace(
    member: Annotated[OrgContext, require("can_view_dbt_workspace")], client: PrefectDep
) -> DbtWorkspacePublic:
    """The workspace's settings, the token masked, and the run holding it if one is under way."""
    workspace = await _require_workspace(client, member.org.slug)
    return _public(workspace, await dbt.active_operation(client, member.org.slug))


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "A command on the workspace is under way; `holder_run_id` names it."}},
)
async def delete_workspace(
    member: Annotated[OrgContext, require("can_delete_dbt_workspace")],
    client: PrefectDep,
    settings: SettingsDep,
) -> Response:
    """Remove the workspace, its checkout and its docs (the tables dbt built stay)."""
    await _require_workspace(client, member.org.slug)
    holder = await dbt.active_operation(client, member.org.slug)
    if holder is not None:
        return _busy(dbt.WorkspaceBusyError(holder))
    await dbt.delete_workspace(client, settings, member.org.slug)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/operations",
    response_model=FlowRunStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "A command on the workspace is under way; `holder_run_id` names it."}},
)
async def run_operation(
    body: DbtOperationCreate,
    member: Annotated[OrgContext, manual_run("can_run_dbt")],
    client: PrefectDep,
    settings: SettingsDep,
) -> Any:
    """Run a command on the workspace as a flow run (kind `git` for git-pull, `dbt` otherwise);
    409 with the holder's run id while another one is under way."""
    await _require_workspace(client, member.org.slug)
    problem = operation_problem(body.command, body.select, body.exclude, body.full_refresh)
    if problem is not None:
        raise _unprocessable(problem)
    try:
        run_id = await dbt.start_dbt_operation(
            client,
            settings,
            member.org.slug,
            body.command,
            body.select,
            body.exclude,
            body.full_refresh,
            member.user.email,
        )
    except dbt.WorkspaceBusyError as exc:
        return _busy(exc)
    return FlowRunStarted(flow_run_id=run_id)


@router.get(
    "/docs",
    response_class=FileResponse,
    responses={200: {"content": {"text/html": {}}, "description": "The dbt documentation, one page."}},
)
async def read_docs(
    member: Annotated[OrgContext, require("can_view_dbt_workspace")],
    client: PrefectDep,
    settings: SettingsDep,
) -> FileResponse:
    """The documentation the last `docs-generate` made, as one self-contained HTML page."""
    await _require_workspace(client, member.org.slug)
    docs = workspace_folders(member.org.slug, settings).served_docs()
    if docs is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=NO_DOCS)
    return FileResponse(docs, media_type="text/html", headers=DOCS_HEADERS)
