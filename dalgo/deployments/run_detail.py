"""One run of an org with its steps and, once it has ended, its result."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
from prefect.client.schemas.objects import FlowRun, TaskRun

from dalgo.deployments.runs import (
    RunStep,
    RunSummary,
    belongs,
    child_runs,
    read_run,
    summarize,
    task_runs_of,
)
from dalgo.flows.results import RESULT_ARTIFACT_TYPE
from dalgo.run_states import api_state


def _step(run: TaskRun | FlowRun, kind: str) -> RunStep:
    return RunStep(
        id=run.id,
        name=run.name,
        type=kind,
        state=api_state(run.state),
        start_time=run.start_time,
        end_time=run.end_time,
    )


def run_steps(task_runs: list[TaskRun], subflows: list[FlowRun]) -> list[RunStep]:
    """The run's steps from its task runs and subflow runs, in the order they started; a task run
    that only wraps a subflow is shown as that subflow."""
    subflow_tasks = {s.parent_task_run_id for s in subflows}
    steps = [_step(t, "task") for t in task_runs if t.id not in subflow_tasks]
    steps += [_step(s, "flow") for s in subflows]
    return sorted(steps, key=lambda s: (s.start_time is None, s.start_time or datetime.min))


@dataclass(frozen=True)
class RunDetail:
    """A run of the org as the list shows it, with its steps and, once it has ended, its result."""

    summary: RunSummary
    steps: list[RunStep]
    result: Any


async def run_detail(client: PrefectClient, org: str, run_id: uuid.UUID) -> RunDetail | None:
    """The run with its steps and result, only when it belongs to the org. The run, its task runs,
    its subflow runs and its result artifact are read at once (one round trip's wait); what was
    read about a run of another org is dropped unseen."""
    run, task_runs, subflows, result = await asyncio.gather(
        read_run(client, run_id),
        task_runs_of(client, [run_id]),
        child_runs(client, [run_id]),
        _result_artifact(client, run_id),
    )
    if run is None or not belongs(run, org):
        return None
    final = run.state is not None and run.state.is_final()
    return RunDetail(summarize(run), run_steps(task_runs, subflows), result if final else None)


async def _result_artifact(client: PrefectClient, run_id: uuid.UUID) -> Any:
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            type=ArtifactFilterType(any_=[RESULT_ARTIFACT_TYPE]),
        )
    )
    if not artifacts:
        return None
    data = artifacts[-1].data
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


async def run_result(client: PrefectClient, run: FlowRun) -> Any:
    """The result the run recorded, or None."""
    return await _result_artifact(client, run.id)
