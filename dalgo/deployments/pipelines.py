"""An org's pipelines: each is one deployment of the pipeline flow, tagged `org:<slug>`,
`kind:pipeline` and `pipeline:<id>`, whose parameters hold its steps and options and whose
schedule is a cron expression in an IANA time zone. Nothing about a pipeline is kept elsewhere.

Lists use a bounded number of Prefect queries whatever their length: one page of deployments and
their count, their latest runs in one query (a second and third only for pipelines whose last run
is older than 200 runs of the others), and the org's locks.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.client.schemas.sorting import DeploymentSort, FlowRunSort
from prefect.exceptions import ObjectNotFound

from dalgo.deployments.crashes import ensure_crash_detection
from dalgo.deployments.factory import (
    OrgDeploymentSpec,
    Schedule,
    apply_org_deployment,
    delete_org_deployment,
)
from dalgo.deployments.fairness import Placement, ensure_org_run_limit, ensure_placement
from dalgo.deployments.lock_holders import Lock, locks_of
from dalgo.flows.pipeline import Step, parse_step, step_parameters, step_resources
from dalgo.naming import (
    PIPELINE_FLOW_NAME,
    WORKSPACE_RESOURCE,
    kind_tag,
    org_tag,
    pipeline_deployment_suffix,
    pipeline_run_name,
    pipeline_tag,
    triggered_by_tag,
)
from dalgo.prefect_objects import count_deployments
from dalgo.settings import Settings

ENTRYPOINT = "dalgo.flows.pipeline.run_pipeline"
PAGE = 200
DEFAULT_QUEUE = "default"
_LAST_RUN_PASSES = 3
UNDER_WAY = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
"""A run in one of these states that was due to start already is under way (a manual run is
Scheduled until a worker takes it; runs the schedule made for later are not under way)."""


def check_schedule(cron: str, timezone: str) -> str | None:
    """Why the schedule is not valid, in a sentence, or None when it is. A cron expression has five
    fields, or six with the seconds last."""
    fields = cron.split()
    if len(fields) not in (5, 6):
        return f"The cron expression {cron!r} needs five fields (minute hour day month weekday)."
    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValueError as exc:
        if "timezone" in str(exc).lower():
            return f"{timezone!r} is not an IANA time zone (for example Asia/Kolkata or UTC)."
        return f"{cron!r} is not a valid cron expression (minute hour day month weekday)."
    return None


@dataclass(frozen=True)
class PipelineDefinition:
    """What a pipeline is made of, as its creator gave it."""

    name: str
    steps: list[Step]
    schedule: Schedule | None = None
    continue_on_sync_failure: bool = False


@dataclass(frozen=True)
class Pipeline:
    """A pipeline as read back from its deployment."""

    id: uuid.UUID
    deployment_id: uuid.UUID
    definition: PipelineDefinition
    paused: bool
    work_pool: str | None
    work_queue: str | None
    created: datetime | None
    updated: datetime | None

    @property
    def resources(self) -> list[str]:
        return step_resources(self.definition.steps)


def flow_parameters(org: str, pipeline_id: uuid.UUID, definition: PipelineDefinition) -> dict[str, Any]:
    return {
        "org": org,
        "pipeline_id": str(pipeline_id),
        "name": definition.name,
        "steps": [step_parameters(s) for s in definition.steps],
        "continue_on_sync_failure": definition.continue_on_sync_failure,
    }


def pipeline_of(deployment: DeploymentResponse) -> Pipeline:
    parameters = deployment.parameters
    schedule = None
    for item in deployment.schedules:
        if isinstance(item.schedule, CronSchedule):
            schedule = Schedule(cron=item.schedule.cron, timezone=item.schedule.timezone or "UTC")
            break
    definition = PipelineDefinition(
        name=str(parameters.get("name", deployment.name)),
        steps=[parse_step(s) for s in parameters.get("steps", [])],
        schedule=schedule,
        continue_on_sync_failure=bool(parameters.get("continue_on_sync_failure", False)),
    )
    return Pipeline(
        id=uuid.UUID(str(parameters["pipeline_id"])),
        deployment_id=deployment.id,
        definition=definition,
        paused=bool(deployment.paused),
        work_pool=deployment.work_pool_name,
        work_queue=deployment.work_queue_name,
        created=deployment.created,
        updated=deployment.updated,
    )


async def apply_pipeline(
    client: PrefectClient,
    settings: Settings,
    org: str,
    pipeline_id: uuid.UUID,
    definition: PipelineDefinition,
    placement: Placement,
    paused: bool = False,
) -> Pipeline:
    """Create or update the pipeline's deployment in the org's pool and queue; a pipeline this call
    created is removed again when a later step fails."""
    await ensure_crash_detection(client, settings)
    await ensure_placement(client, settings, placement)
    existed = await find_pipeline_deployment(client, org, pipeline_id) is not None
    spec = OrgDeploymentSpec(
        org=org,
        kind="pipeline",
        name=pipeline_deployment_suffix(pipeline_id),
        flow_name=PIPELINE_FLOW_NAME,
        entrypoint=ENTRYPOINT,
        parameters=flow_parameters(org, pipeline_id, definition),
        schedule=definition.schedule,
        paused=paused,
        description=f"Pipeline {definition.name}",
        extra_tags=(pipeline_tag(pipeline_id),),
    )
    deployment_id = await apply_org_deployment(
        client, settings.model_copy(update={"work_pool": placement.work_pool}), spec
    )
    try:
        queue = placement.work_queue or DEFAULT_QUEUE
        await client.update_deployment(
            deployment_id, DeploymentUpdate(work_pool_name=placement.work_pool, work_queue_name=queue)
        )
        await ensure_org_run_limit(client, settings, org)
        return pipeline_of(await client.read_deployment(deployment_id))
    except Exception:
        if not existed:
            with contextlib.suppress(ObjectNotFound):
                await client.delete_deployment(deployment_id)
        raise


def _org_pipelines(org: str, *tags: str) -> DeploymentFilter:
    return DeploymentFilter(tags=DeploymentFilterTags(all_=[org_tag(org), kind_tag("pipeline"), *tags]))


async def find_pipeline_deployment(
    client: PrefectClient, org: str, pipeline_id: uuid.UUID
) -> DeploymentResponse | None:
    """The pipeline's deployment, only when it belongs to the org."""
    found = await client.read_deployments(
        deployment_filter=_org_pipelines(org, pipeline_tag(pipeline_id)), limit=1
    )
    return found[0] if found else None


async def find_pipeline(client: PrefectClient, org: str, pipeline_id: uuid.UUID) -> Pipeline | None:
    deployment = await find_pipeline_deployment(client, org, pipeline_id)
    return pipeline_of(deployment) if deployment is not None else None


async def list_pipelines(
    client: PrefectClient, org: str, limit: int, offset: int
) -> tuple[list[Pipeline], int]:
    """One page of the org's pipelines, newest first, and how many it has (two queries)."""
    deployments = await client.read_deployments(
        deployment_filter=_org_pipelines(org), sort=DeploymentSort.CREATED_DESC, limit=limit, offset=offset
    )
    return [pipeline_of(d) for d in deployments], await count_deployments(client, _org_pipelines(org))


async def pipelines_using(client: PrefectClient, org: str, resource: str) -> list[Pipeline]:
    """The org's pipelines with a step that uses the resource (e.g. `connection:<id>`)."""
    found: list[Pipeline] = []
    offset = 0
    while True:
        page, total = await list_pipelines(client, org, PAGE, offset)
        found += [p for p in page if resource in p.resources]
        offset += len(page)
        if not page or offset >= total:
            return found


async def last_runs(client: PrefectClient, pipelines: list[Pipeline]) -> dict[uuid.UUID, FlowRun]:
    """The latest started (or starting) run of each pipeline, by pipeline id."""
    by_deployment = {p.deployment_id: p.id for p in pipelines}
    found: dict[uuid.UUID, FlowRun] = {}
    missing = list(by_deployment)
    for _ in range(_LAST_RUN_PASSES):
        if not missing:
            break
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=missing),
                state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED])),
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=PAGE,
        )
        for run in runs:
            if run.deployment_id in by_deployment:
                found.setdefault(by_deployment[run.deployment_id], run)
        if len(runs) < PAGE:
            break
        missing = [d for d, p in by_deployment.items() if p not in found]
    return found


async def next_run(pipeline: Pipeline, now: datetime | None = None) -> datetime | None:
    """When the schedule fires next (None when paused or manual only), in UTC."""
    schedule = pipeline.definition.schedule
    if schedule is None or pipeline.paused:
        return None
    from prefect.server.schemas.schedules import CronSchedule as ServerCronSchedule

    dates = await ServerCronSchedule(cron=schedule.cron, timezone=schedule.timezone).get_dates(
        n=1, start=now or datetime.now(UTC)
    )
    return dates[0].astimezone(UTC) if dates else None


async def set_paused(client: PrefectClient, pipeline: Pipeline, paused: bool) -> Pipeline:
    """Pause (its scheduled runs are removed) or resume the pipeline's schedule."""
    if paused:
        await client.pause_deployment(pipeline.deployment_id)
    else:
        await client.resume_deployment(pipeline.deployment_id)
    return pipeline_of(await client.read_deployment(pipeline.deployment_id))


async def delete_pipeline(client: PrefectClient, org: str, pipeline_id: uuid.UUID) -> bool:
    """Remove the pipeline's deployment (its past runs stay in the history)."""
    return await delete_org_deployment(client, org, pipeline_deployment_suffix(pipeline_id))


def describe_resource(resource: str) -> str:
    if resource == WORKSPACE_RESOURCE:
        return "The dbt workspace"
    kind, _, ident = resource.partition(":")
    return f"The {kind} {ident}"


class PipelineBusyError(RuntimeError):
    """The pipeline cannot start now: it is running already, or a resource it needs is locked."""

    def __init__(self, message: str, holder_run_id: uuid.UUID | None, resource: str | None) -> None:
        super().__init__(message)
        self.holder_run_id = holder_run_id
        self.resource = resource


async def start_pipeline_run(
    client: PrefectClient, org: str, pipeline: Pipeline, triggered_by: str | None
) -> uuid.UUID:
    """Start a run of the pipeline now; PipelineBusyError when it is running already or one of its
    resources is locked."""
    active = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[pipeline.deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=UNDER_WAY)),
            expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(UTC)),
        ),
        limit=1,
    )
    if active:
        raise PipelineBusyError(
            f"This pipeline already has a run under way (run {active[0].id}); wait for it to finish.",
            active[0].id,
            None,
        )
    locks: list[Lock] = await locks_of(client, org, pipeline.resources)
    if locks:
        lock = locks[0]
        holder = f"run {lock.holder_run_id}" if lock.holder_run_id else "a run that has just ended"
        raise PipelineBusyError(
            f"{describe_resource(lock.resource)} is locked by {holder}; try again when it has finished.",
            lock.holder_run_id,
            lock.resource,
        )
    run = await client.create_flow_run_from_deployment(
        pipeline.deployment_id,
        tags=[triggered_by_tag(triggered_by)] if triggered_by else [],
        name=pipeline_run_name(org, pipeline.id, uuid.uuid4().hex[:6]),
    )
    return run.id
