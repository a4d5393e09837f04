"""The pipeline flow: an org's ordered steps (syncs, then dbt commands) in one flow run, each step a
subflow that holds the lock of its resource for exactly as long as it runs.

Before a step starts, the pipeline waits (visibly, in `WaitingForLock`) until its resource is free,
up to a configurable time. The run holds one of its org's run slots throughout; while the org has
none free it waits in the work pool rather than in a worker (`dalgo.flows.slots`). Failure policy:
stop at the first failed step, or with `continue_on_sync_failure` go on past failed syncs so the
dbt steps still run; the run ends failed if any step failed. A `git-pull` or `deps` step that would
change nothing (the branch's tip already checked out, the packages files those of the last
successful `dbt deps`) is skipped, and the run's log says why.

The steps' flows (PyAirbyte for syncs, the dbt workspace and warehouse blocks) are imported when a
step first needs them, not when the flow-run process loads this module: the run is Running sooner,
and a pipeline without a sync never loads the sync's libraries.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

from prefect import Flow, flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run as current_run
from prefect.states import Cancelled, Completed, Failed

from dalgo.flows.concurrency import LockWaitTimeoutError, org_run_slot, tag_run_hook, wait_until_free
from dalgo.flows.dbt_commands import COMMANDS
from dalgo.flows.results import record_result
from dalgo.flows.slots import give_way_while_org_full
from dalgo.naming import (
    COMPLETED_WITH_WARNINGS,
    PIPELINE_FLOW_NAME,
    WORKSPACE_RESOURCE,
    connection_tag,
    kind_tag,
    org_tag,
    pipeline_run_name,
    pipeline_run_tag,
    pipeline_tag,
    step_run_name,
    sync_step_label,
    workspace_block_name,
)
from dalgo.run_states import api_state
from dalgo.settings import get_settings

DBT_COMMANDS: tuple[str, ...] = COMMANDS
DEFAULT_SYNC_RETRIES = 1


@dataclass(frozen=True)
class SyncStep:
    """Sync one of the org's connections."""

    connection_id: str
    retries: int | None = None
    retry_delay_s: float | None = None
    type: Literal["sync"] = "sync"

    @property
    def resource(self) -> str:
        return connection_tag(self.connection_id)

    @property
    def label(self) -> str:
        return sync_step_label(uuid.UUID(self.connection_id))


@dataclass(frozen=True)
class DbtStep:
    """Run one dbt (or git) command in the org's dbt workspace."""

    command: str
    select: str | None = None
    exclude: str | None = None
    full_refresh: bool = False
    retries: int | None = None
    retry_delay_s: float | None = None
    type: Literal["dbt"] = "dbt"

    @property
    def resource(self) -> str:
        return WORKSPACE_RESOURCE

    @property
    def label(self) -> str:
        return f"dbt-{self.command}"


Step = SyncStep | DbtStep


def parse_step(data: dict[str, Any]) -> Step:
    """A step from its parameter form; ValueError for an unknown type or dbt command."""
    fields = {k: v for k, v in data.items() if k != "type"}
    if data.get("type") == "sync":
        return SyncStep(**fields)
    if data.get("type") == "dbt":
        step = DbtStep(**fields)
        if step.command not in DBT_COMMANDS:
            raise ValueError(f"unknown dbt command {step.command!r}; use one of {', '.join(DBT_COMMANDS)}")
        return step
    raise ValueError(f"unknown step type {data.get('type')!r}; use sync or dbt")


def step_parameters(step: Step) -> dict[str, Any]:
    """A step in the form it is kept in the pipeline deployment's parameters."""
    return asdict(step)


def step_resources(steps: list[Step]) -> list[str]:
    """The resources the steps lock, each once, in order."""
    return list(dict.fromkeys(step.resource for step in steps))


@dataclass
class StepOutcome:
    """How one step ended."""

    step: str
    type: str
    state: str
    flow_run_id: str | None = None
    message: str | None = None

    @property
    def failed(self) -> bool:
        return self.state in ("failed", "crashed")


def _run_name() -> str:
    parameters = current_run.parameters
    started = current_run.scheduled_start_time.strftime("%Y%m%d-%H%M%S")
    return pipeline_run_name(parameters["org"], str(parameters["pipeline_id"]), started)


async def _git_backed(org: str) -> bool:
    from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
    from dalgo.flows.dbt_steps import needs_git_pull

    try:
        workspace: DbtWorkspaceBlock = await DbtWorkspaceBlock.aload(workspace_block_name(org))
    except ValueError:
        return False
    return needs_git_pull(workspace)


def _is_command(step: Step | None, command: str) -> bool:
    return isinstance(step, DbtStep) and step.command == command


async def plan_steps(org: str, steps: list[Step]) -> list[Step]:
    """The steps as they will run: a git-backed workspace is pulled and its packages installed
    (`git-pull`, then `deps`) before the first dbt step, unless the pipeline does that itself."""
    first_dbt = next((i for i, s in enumerate(steps) if isinstance(s, DbtStep)), None)
    if first_dbt is None or not await _git_backed(org):
        return steps
    head, rest = steps[:first_dbt], steps[first_dbt:]
    if _is_command(rest[0], "git-pull"):
        head, rest = [*head, rest[0]], rest[1:]
    else:
        head = [*head, DbtStep(command="git-pull")]
    if not _is_command(rest[0] if rest else None, "deps"):
        head = [*head, DbtStep(command="deps")]
    return [*head, *rest]


def _subflow(org: str, pipeline_id: str, index: int, step: Step) -> tuple[Flow[..., Any], dict[str, Any]]:
    """The step's flow, with its retries, name and tags, and the parameters to call it with."""
    from dalgo.flows.ingest import sync_connection
    from dalgo.flows.transform import dbt_operation

    settings = get_settings()
    tags = [org_tag(org), pipeline_tag(pipeline_id), pipeline_run_tag(str(current_run.id))]
    name = step_run_name(org, index, step.label)
    configured: Flow[..., Any]
    if isinstance(step, SyncStep):
        retries = DEFAULT_SYNC_RETRIES if step.retries is None else step.retries
        delay = settings.sync_retry_delay_s if step.retry_delay_s is None else step.retry_delay_s
        tags += [kind_tag("sync"), step.resource]
        configured = sync_connection.with_options(
            retries=retries, retry_delay_seconds=delay, flow_run_name=name, on_running=[tag_run_hook(tags)]
        )
        return configured, {"org": org, "connection_id": step.connection_id}
    tags += [kind_tag("git" if step.command == "git-pull" else "dbt"), step.resource]
    configured = dbt_operation.with_options(
        retries=step.retries or 0,
        retry_delay_seconds=step.retry_delay_s or 0,
        flow_run_name=name,
        on_running=[tag_run_hook(tags)],
    )
    arguments = {
        "org": org,
        "command": step.command,
        "select": step.select,
        "exclude": step.exclude,
        "full_refresh": step.full_refresh,
    }
    return configured, arguments


_STEP_ENDINGS = ("completed", "completed_with_warnings", "crashed", "cancelled")


def _state_name(state: State[Any]) -> str:
    """How a step's run ended, in the API's words; any end but those in `_STEP_ENDINGS` is a failure."""
    name = api_state(state)
    return name if name in _STEP_ENDINGS else "failed"


async def _run_step(org: str, pipeline_id: str, index: int, step: Step, wait_s: float) -> StepOutcome:
    logger = get_run_logger()
    try:
        await wait_until_free(org, [step.resource], wait_s)
    except LockWaitTimeoutError as exc:
        logger.error("Step %d (%s) did not start: %s", index, step.label, exc)
        return StepOutcome(step.label, step.type, "failed", None, str(exc))
    if isinstance(step, DbtStep):
        from dalgo.flows.dbt_steps import unneeded_because

        reason = await unneeded_because(org, step.command)
        if reason is not None:
            logger.info("Step %d (%s) skipped: %s.", index, step.label, reason)
            return StepOutcome(step.label, step.type, "skipped", None, f"Skipped: {reason}.")
    logger.info("Step %d: %s", index, step.label)
    subflow, arguments = _subflow(org, pipeline_id, index, step)
    state = await cast(Awaitable[State[Any]], subflow(**arguments, return_state=True))
    run_id = state.state_details.flow_run_id
    outcome = StepOutcome(step.label, step.type, _state_name(state), str(run_id) if run_id else None)
    if outcome.state != "completed":
        outcome.message = state.message
    log = logger.error if outcome.failed else logger.info
    detail = f": {state.message}" if outcome.failed else ""
    log("Step %d (%s) ended %s%s", index, step.label, outcome.state, detail)
    return outcome


def _final_state(outcomes: list[StepOutcome], result: dict[str, Any]) -> State[Any]:
    cancelled = [o for o in outcomes if o.state == "cancelled"]
    if cancelled:
        return Cancelled(message=f"Step {cancelled[0].step} was cancelled.", data=result)
    failed = [o for o in outcomes if o.failed]
    if failed:
        first = failed[0]
        more = f" ({len(failed)} steps failed)" if len(failed) > 1 else ""
        return Failed(message=f"Step {first.step} failed: {first.message or 'no message'}{more}", data=result)
    if any(o.state == "completed_with_warnings" for o in outcomes):
        return Completed(name=COMPLETED_WITH_WARNINGS, message="A step ended with warnings.", data=result)
    return Completed(message=f"All {len(outcomes)} steps completed.", data=result)


@flow(name=PIPELINE_FLOW_NAME, flow_run_name=_run_name)
async def run_pipeline(
    org: str,
    pipeline_id: str,
    name: str,
    steps: list[dict[str, Any]],
    continue_on_sync_failure: bool = False,
    lock_wait_timeout_s: float | None = None,
) -> State[Any]:
    """Run the pipeline's steps in order; the result lists each step's state and run id."""
    logger = get_run_logger()
    wait_s = lock_wait_timeout_s or get_settings().lock_wait_timeout_s
    await give_way_while_org_full(org, wait_s)
    planned = await plan_steps(org, [parse_step(s) for s in steps])
    logger.info("Pipeline %s: %s", name, ", ".join(s.label for s in planned))
    outcomes: list[StepOutcome] = []
    async with org_run_slot(org, wait_s):
        stopped = False
        for index, step in enumerate(planned, 1):
            if stopped:
                outcomes.append(StepOutcome(step.label, step.type, "skipped"))
                continue
            outcome = await _run_step(org, pipeline_id, index, step, wait_s)
            outcomes.append(outcome)
            going_on = isinstance(step, SyncStep) and continue_on_sync_failure
            if outcome.state == "cancelled" or (outcome.failed and not going_on):
                stopped = True
    result: dict[str, Any] = {"pipeline_id": pipeline_id, "steps": [asdict(o) for o in outcomes]}
    await record_result(result)
    return _final_state(outcomes, result)
