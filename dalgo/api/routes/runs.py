"""An org's runs: list, detail with steps and result, logs, cancel.

These are the dashboard's most frequent reads, so they share one Prefect client per process
(`shared_prefect_client`): no TLS context, connection or CSRF token is made per request."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun

from dalgo.api.deps import MAX_OFFSET, OrgContext, PageParams, SettingsDep, require
from dalgo.api.schemas.common import Page
from dalgo.api.schemas.runs import LogPage, LogPublic, RunDetailPublic, RunPublic, RunStepPublic
from dalgo.deployments import run_detail, run_logs, runs
from dalgo.deployments.client import shared_prefect_client
from dalgo.deployments.runs import RunState

router = APIRouter(prefix="/orgs/{org}/runs", tags=["runs"])

LogLevel = Literal["debug", "info", "warning", "error", "critical"]

RUN_NOT_FOUND = "This organization has no run with that id."


async def shared_prefect(settings: SettingsDep) -> PrefectClient:
    """The process's shared Prefect client (made on first use)."""
    return await shared_prefect_client(settings)


SharedPrefect = Annotated[PrefectClient, Depends(shared_prefect)]


def _public(summary: runs.RunSummary) -> RunPublic:
    return RunPublic(**dict(summary))


async def _org_run(client: PrefectClient, org: str, run_id: uuid.UUID) -> FlowRun:
    run = await runs.get_org_run(client, org, run_id)
    if run is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=RUN_NOT_FOUND)
    return run


@router.get("", response_model=Page[RunPublic])
async def list_runs(
    member: Annotated[OrgContext, require("can_view_runs")],
    client: SharedPrefect,
    page: PageParams,
    pipeline_id: Annotated[str | None, Query(max_length=100)] = None,
    connection_id: Annotated[str | None, Query(max_length=100)] = None,
    state: RunState | None = None,
) -> Page[RunPublic]:
    """The org's runs, newest first, optionally narrowed to a pipeline, a connection or a state."""
    if any("\x00" in text for text in (pipeline_id, connection_id) if text):
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail="A filter may not hold a NUL character."
        )
    filters = runs.RunFilters(pipeline_id=pipeline_id, connection_id=connection_id, state=state)
    found, total = await runs.list_runs(client, member.org.slug, filters, page.limit, page.offset)
    return Page(data=[_public(r) for r in found], count=total)


@router.get("/{run_id}", response_model=RunDetailPublic)
async def read_run(
    run_id: uuid.UUID, member: Annotated[OrgContext, require("can_view_runs")], client: SharedPrefect
) -> RunDetailPublic:
    """One run with its steps and, once it has ended, its result."""
    detail = await run_detail.run_detail(client, member.org.slug, run_id)
    if detail is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=RUN_NOT_FOUND)
    return RunDetailPublic(
        **dict(detail.summary),
        steps=[RunStepPublic(**dict(step)) for step in detail.steps],
        result=detail.result,
    )


@router.get("/{run_id}/logs", response_model=LogPage)
async def read_run_logs(
    run_id: uuid.UUID,
    member: Annotated[OrgContext, require("can_view_runs")],
    client: SharedPrefect,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
    level: LogLevel | None = None,
) -> LogPage:
    """The logs of the run and all its steps, oldest first; `next_offset` is null on the last page."""
    page = await run_logs.org_run_logs(client, member.org.slug, run_id, offset, limit, level)
    if page is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=RUN_NOT_FOUND)
    entries, next_offset = page
    return LogPage(
        data=[LogPublic(**dict(entry)) for entry in entries],
        next_offset=next_offset,
    )


@router.post("/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_run(
    run_id: uuid.UUID, member: Annotated[OrgContext, require("can_cancel_run")], client: SharedPrefect
) -> dict[str, str]:
    """Cancel the run: the worker stops what it drives, and the run ends as cancelled."""
    run = await _org_run(client, member.org.slug, run_id)
    if not await runs.cancel_run(client, run):
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"The run has already ended ({runs.api_state(run.state)}); there is nothing to cancel.",
        )
    return {"detail": "The run is being cancelled."}
