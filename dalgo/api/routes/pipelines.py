"""An org's pipelines: ordered syncs and dbt commands on a schedule, run as one flow run."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import JSONResponse
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun

from dalgo.api.deps import OrgContext, PageParams, PrefectDep, SettingsDep, require
from dalgo.api.ratelimit import manual_run
from dalgo.api.schemas.common import FlowRunStarted, Page
from dalgo.api.schemas.locks import LockPublic
from dalgo.api.schemas.pipelines import (
    DbtStepBody,
    PipelineCreate,
    PipelinePublic,
    PipelineRunConflict,
    PipelineUpdate,
    ScheduleBody,
    StepBody,
    SyncStepBody,
)
from dalgo.deployments import connections, pipelines
from dalgo.deployments.factory import DeploymentFactoryError, Schedule
from dalgo.deployments.fairness import placement_of
from dalgo.deployments.lock_holders import Lock, locks_of, org_locks
from dalgo.deployments.runs import run_brief
from dalgo.flows.dbt_options import operation_problem
from dalgo.flows.pipeline import DbtStep, Step, SyncStep, step_parameters
from dalgo.settings import Settings

router = APIRouter(prefix="/orgs/{org}/pipelines", tags=["pipelines"])

PIPELINE_NOT_FOUND = "This organization has no pipeline with that id."


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


async def _steps(client: PrefectClient, org: str, bodies: list[StepBody]) -> list[Step]:
    """The steps, each checked: its connection is the org's, its dbt command exists."""
    if not bodies:
        raise _unprocessable("A pipeline needs at least one step.")
    steps: list[Step] = []
    known: set[uuid.UUID] = set()
    for index, body in enumerate(bodies, 1):
        if isinstance(body, SyncStepBody):
            if body.connection_id not in known:
                if await connections.load_connection(client, org, body.connection_id) is None:
                    raise _unprocessable(
                        f"Step {index}: this organization has no connection with the id {body.connection_id}."
                    )
                known.add(body.connection_id)
            steps.append(SyncStep(str(body.connection_id), body.retries, body.retry_delay_s))
        else:
            problem = operation_problem(body.command, body.select, body.exclude, body.full_refresh)
            if problem:
                raise _unprocessable(f"Step {index}: {problem}")
            options = (body.select, body.exclude, body.full_refresh, body.retries, body.retry_delay_s)
            steps.append(DbtStep(body.command, *options))
    return steps


def _schedule(body: ScheduleBody | None) -> Schedule | None:
    if body is None:
        return None
    problem = pipelines.check_schedule(body.cron, body.timezone)
    if problem:
        raise _unprocessable(problem)
    return Schedule(cron=" ".join(body.cron.split()), timezone=body.timezone)


async def _public(pipeline: pipelines.Pipeline, last: FlowRun | None, lock: Lock | None) -> PipelinePublic:
    definition = pipeline.definition
    return PipelinePublic(
        id=pipeline.id,
        name=definition.name,
        steps=[_step_body(s) for s in definition.steps],
        schedule=ScheduleBody(cron=definition.schedule.cron, timezone=definition.schedule.timezone)
        if definition.schedule
        else None,
        continue_on_sync_failure=definition.continue_on_sync_failure,
        paused=pipeline.paused,
        next_run=await pipelines.next_run(pipeline),
        last_run=run_brief(last),
        lock=LockPublic.model_validate(lock, from_attributes=True) if lock else None,
        created=pipeline.created,
        updated=pipeline.updated,
    )


def _step_body(step: Step) -> StepBody:
    data = step_parameters(step)
    return SyncStepBody(**data) if isinstance(step, SyncStep) else DbtStepBody(**data)


async def _pipeline(client: PrefectClient, org: str, pipeline_id: uuid.UUID) -> pipelines.Pipeline:
    found = await pipelines.find_pipeline(client, org, pipeline_id)
    if found is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=PIPELINE_NOT_FOUND)
    return found


async def _detail(client: PrefectClient, org: str, pipeline: pipelines.Pipeline) -> PipelinePublic:
    latest = await pipelines.last_runs(client, [pipeline])
    locks = await locks_of(client, org, pipeline.resources)
    return await _public(pipeline, latest.get(pipeline.id), locks[0] if locks else None)


async def _apply(
    client: PrefectClient,
    settings: Settings,
    member: OrgContext,
    pipeline_id: uuid.UUID,
    definition: pipelines.PipelineDefinition,
    paused: bool = False,
) -> pipelines.Pipeline:
    try:
        return await pipelines.apply_pipeline(
            client,
            settings,
            member.org.slug,
            pipeline_id,
            definition,
            placement_of(member.org, settings),
            paused,
        )
    except DeploymentFactoryError as exc:
        raise _unprocessable(str(exc)) from exc


@router.post("", response_model=PipelinePublic, status_code=status.HTTP_201_CREATED)
async def create_pipeline(
    body: PipelineCreate,
    member: Annotated[OrgContext, require("can_create_pipeline")],
    client: PrefectDep,
    settings: SettingsDep,
) -> PipelinePublic:
    """Make a pipeline: one deployment of the pipeline flow, scheduled in the given time zone."""
    definition = pipelines.PipelineDefinition(
        name=body.name,
        steps=await _steps(client, member.org.slug, body.steps),
        schedule=_schedule(body.schedule),
        continue_on_sync_failure=body.continue_on_sync_failure,
    )
    pipeline = await _apply(client, settings, member, uuid.uuid4(), definition)
    return await _public(pipeline, None, None)


@router.get("", response_model=Page[PipelinePublic])
async def list_pipelines(
    member: Annotated[OrgContext, require("can_view_pipelines")], client: PrefectDep, page: PageParams
) -> Page[PipelinePublic]:
    """The org's pipelines with schedule, paused, next run, last run and lock state (a fixed number
    of Prefect queries, however many there are)."""
    org = member.org.slug
    found, total = await pipelines.list_pipelines(client, org, page.limit, page.offset)
    latest = await pipelines.last_runs(client, found)
    locked = {lock.resource: lock for lock in await org_locks(client, org)} if found else {}
    data = []
    for pipeline in found:
        lock = next((locked[r] for r in pipeline.resources if r in locked), None)
        data.append(await _public(pipeline, latest.get(pipeline.id), lock))
    return Page(data=data, count=total)


@router.get("/{pipeline_id}", response_model=PipelinePublic)
async def read_pipeline(
    pipeline_id: uuid.UUID, member: Annotated[OrgContext, require("can_view_pipelines")], client: PrefectDep
) -> PipelinePublic:
    """One pipeline with its next run, last run and lock state."""
    pipeline = await _pipeline(client, member.org.slug, pipeline_id)
    return await _detail(client, member.org.slug, pipeline)


@router.put("/{pipeline_id}", response_model=PipelinePublic)
async def update_pipeline(
    pipeline_id: uuid.UUID,
    body: PipelineUpdate,
    member: Annotated[OrgContext, require("can_edit_pipeline")],
    client: PrefectDep,
    settings: SettingsDep,
) -> PipelinePublic:
    """Change a pipeline's name, steps, schedule or failure policy; paused stays as it was."""
    current = await _pipeline(client, member.org.slug, pipeline_id)
    old = current.definition
    schedule = old.schedule
    if "schedule" in body.model_fields_set:
        schedule = _schedule(body.schedule)
    definition = pipelines.PipelineDefinition(
        name=body.name or old.name,
        steps=await _steps(client, member.org.slug, body.steps) if body.steps is not None else old.steps,
        schedule=schedule,
        continue_on_sync_failure=old.continue_on_sync_failure
        if body.continue_on_sync_failure is None
        else body.continue_on_sync_failure,
    )
    pipeline = await _apply(client, settings, member, pipeline_id, definition, current.paused)
    return await _detail(client, member.org.slug, pipeline)


@router.delete("/{pipeline_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_pipeline(
    pipeline_id: uuid.UUID, member: Annotated[OrgContext, require("can_delete_pipeline")], client: PrefectDep
) -> Response:
    """Delete the pipeline (its past runs stay in the run history)."""
    await _pipeline(client, member.org.slug, pipeline_id)
    await pipelines.delete_pipeline(client, member.org.slug, pipeline_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{pipeline_id}/pause", response_model=PipelinePublic)
async def pause_pipeline(
    pipeline_id: uuid.UUID, member: Annotated[OrgContext, require("can_edit_pipeline")], client: PrefectDep
) -> PipelinePublic:
    """Stop the schedule (runs already going carry on); its upcoming scheduled runs are removed."""
    pipeline = await _pipeline(client, member.org.slug, pipeline_id)
    return await _detail(client, member.org.slug, await pipelines.set_paused(client, pipeline, True))


@router.post("/{pipeline_id}/resume", response_model=PipelinePublic)
async def resume_pipeline(
    pipeline_id: uuid.UUID, member: Annotated[OrgContext, require("can_edit_pipeline")], client: PrefectDep
) -> PipelinePublic:
    """Start the schedule again."""
    pipeline = await _pipeline(client, member.org.slug, pipeline_id)
    return await _detail(client, member.org.slug, await pipelines.set_paused(client, pipeline, False))


@router.post(
    "/{pipeline_id}/run",
    response_model=FlowRunStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"model": PipelineRunConflict, "description": "A resource it needs is locked."}},
)
async def run_pipeline(
    pipeline_id: uuid.UUID, member: Annotated[OrgContext, manual_run("can_run_pipeline")], client: PrefectDep
) -> Any:
    """Run the pipeline now; 409 naming the holder's run while one of its resources is locked."""
    pipeline = await _pipeline(client, member.org.slug, pipeline_id)
    try:
        run_id = await pipelines.start_pipeline_run(client, member.org.slug, pipeline, member.user.email)
    except pipelines.PipelineBusyError as exc:
        conflict = PipelineRunConflict(
            detail=str(exc), holder_run_id=exc.holder_run_id, resource=exc.resource
        )
        return JSONResponse(status_code=status.HTTP_409_CONFLICT, content=conflict.model_dump(mode="json"))
    return FlowRunStarted(flow_run_id=run_id)
