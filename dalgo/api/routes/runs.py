"""An org's runs: list, detail with steps and result, logs, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun

from dalgo.api.deps import OrgContext, PageParams, PrefectDep, require
from dalgo.api.schemas import LogPage, LogPublic, Page, RunDetailPublic, RunPublic, StepPublic
from dalgo.deployments import runs
from dalgo.deployments.runs import RunState

router = APIRouter(prefix="/orgs/{org}/runs", tags=["runs"])

LogLevel = Literal["debug", "info", "warning", "error", "critical"]

RUN_NOT_FOUND = "This organization has no run with that id."


def _public(summary: runs.RunSummary) -> RunPublic:
    return RunPublic.model_validate(summary, from_attributes=True)


async def _org_run(client: PrefectClient, org: str, run_id: uuid.UUID) -> FlowRun:
    run = await runs.get_org_run(client, org, run_id)
    if run is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=RUN_NOT_FOUND)
    return run


@router.get("", response_model=Page[RunPublic])
async def list_runs(
    member: Annotated[OrgContext, require("can_view_runs")],
    client: PrefectDep,
    page: PageParams,
    pipeline_id: Annotated[str | None, Query(max_length=100)] = None,
    connection_id: Annotated[str | None, Query(max_length=100)] = None,
    state: RunState | None = None,
) -> Page[RunPublic]:
    """The org's runs, newest first, optionally narrowed to a pipeline, a connection or a state."""
    filters = runs.RunFilters(pipeline_id=pipeline_id, connection_id=connection_id, state=state)
    found, total = await runs.list_runs(client, member.org.slug, filters, page.limit, page.offset)
    return Page(data=[_public(r) for r in found], count=total)


@router.get("/{run_id}", response_model=RunDetailPublic)
async def read_run(
    run_id: uuid.UUID, member: Annotated[OrgContext, require("can_view_runs")], client: PrefectDep
) -> RunDetailPublic:
    """One run with its steps and, once it has ended, its result."""
    run = await _org_run(client, member.org.slug, run_id)
    steps = await runs.run_steps(client, run)
    result = await runs.run_result(client, run) if run.state and run.state.is_final() else None
    return RunDetailPublic(
        **_public(runs.summarize(run)).model_dump(),
        steps=[StepPublic(**vars(step)) for step in steps],
        result=result,
    )


@router.get("/{run_id}/logs", response_model=LogPage)
async def read_run_logs(
    run_id: uuid.UUID,
    member: Annotated[OrgContext, require("can_view_runs")],
    client: PrefectDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
    level: LogLevel | None = None,
) -> LogPage:
    """The logs of the run and all its steps, oldest first; `next_offset` is null on the last page."""
    run = await _org_run(client, member.org.slug, run_id)
    entries, next_offset = await runs.run_logs(client, run, offset, limit, level)
    return LogPage(data=[LogPublic(**vars(entry)) for entry in entries], next_offset=next_offset)


@router.post("/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_run(
    run_id: uuid.UUID, member: Annotated[OrgContext, require("can_cancel_run")], client: PrefectDep
) -> dict[str, str]:
    """Cancel the run: the worker stops what it drives, and the run ends as cancelled."""
    run = await _org_run(client, member.org.slug, run_id)
    if not await runs.cancel_run(client, run):
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"The run has already ended ({runs.api_state(run.state)}); there is nothing to cancel.",
        )
    return {"detail": "The run is being cancelled."}
