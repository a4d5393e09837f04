"""Reading an org's runs, their steps, results and logs from Prefect, and cancelling them.

Nothing is copied: every answer is a filtered, paginated Prefect query. A run belongs to an org
when it carries the tag `org:<slug>`; any other run is treated as if it did not exist.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterParentTaskRunId,
    FlowRunFilterState,
    FlowRunFilterStateName,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    LogFilterLevel,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, Log, TaskRun
from prefect.client.schemas.sorting import LogSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelling

from dalgo.flow_run_pages import PREFECT_MAX_LIMIT, newest_first_page
from dalgo.flows.results import RESULT_ARTIFACT_TYPE
from dalgo.naming import (
    AWAITING_SLOT,
    COMPLETED_WITH_WARNINGS,
    KIND_TAG_PREFIX,
    PIPELINE_TAG_PREFIX,
    TRIGGERED_BY_TAG_PREFIX,
    WAITING_FOR_LOCK,
    connection_tag,
    org_deletion_tag,
    org_tag,
    pipeline_tag,
    tag_value,
)
from dalgo.run_states import NAMED_STATES, state_types
from dalgo.run_states import api_state as api_state

RunState = Literal[
    "scheduled",
    "pending",
    "running",
    "completed",
    "completed_with_warnings",
    "failed",
    "crashed",
    "cancelling",
    "cancelled",
    "waiting_for_lock",
]
API_STATES: tuple[str, ...] = get_args(RunState)

LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _state_filter(state: str) -> FlowRunFilterState:
    """The Prefect filter for one API state."""
    if state == "completed_with_warnings":
        return FlowRunFilterState(name=FlowRunFilterStateName(any_=[COMPLETED_WITH_WARNINGS]))
    if state == "waiting_for_lock":
        return FlowRunFilterState(name=FlowRunFilterStateName(any_=[WAITING_FOR_LOCK, AWAITING_SLOT]))
    return FlowRunFilterState(
        type=FlowRunFilterStateType(any_=state_types(state)),
        name=FlowRunFilterStateName(not_any_=list(NAMED_STATES)),
    )


@dataclass(frozen=True)
class RunFilters:
    """What the run list may be narrowed to."""

    pipeline_id: str | None = None
    connection_id: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class RunSummary:
    id: uuid.UUID
    name: str
    kind: str | None
    pipeline_id: str | None
    state: str
    state_message: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration_s: float | None
    triggered_by: str
    created: datetime | None


@dataclass(frozen=True)
class Step:
    id: uuid.UUID
    name: str
    type: str
    state: str
    start_time: datetime | None
    end_time: datetime | None


@dataclass(frozen=True)
class LogEntry:
    timestamp: datetime
    level: str
    step: str | None
    message: str


def summarize(run: FlowRun) -> RunSummary:
    """The list view of a run."""
    end = run.end_time
    start = run.start_time
    duration = run.total_run_time.total_seconds() if start else None
    if start and end:
        duration = end.timestamp() - start.timestamp()
    return RunSummary(
        id=run.id,
        name=run.name,
        kind=tag_value(run.tags, KIND_TAG_PREFIX),
        pipeline_id=tag_value(run.tags, PIPELINE_TAG_PREFIX),
        state=api_state(run.state),
        state_message=run.state.message if run.state else None,
        start_time=start,
        end_time=end,
        duration_s=duration,
        triggered_by=tag_value(run.tags, TRIGGERED_BY_TAG_PREFIX) or "schedule",
        created=run.created,
    )


def _org_run_filter(org: str, filters: RunFilters) -> FlowRunFilter:
    tags = [org_tag(org)]
    if filters.pipeline_id:
        tags.append(pipeline_tag(filters.pipeline_id))
    if filters.connection_id:
        tags.append(connection_tag(filters.connection_id))
    return FlowRunFilter(
        tags=FlowRunFilterTags(all_=tags),
        parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True),
        state=_state_filter(filters.state) if filters.state else None,
    )


LONG_LIST_MEMORY = 4096
"""How many run lists (org and filters) a process remembers as longer than the page last asked."""

_long_lists: OrderedDict[str, None] = OrderedDict()
"""Lists that needed a count last time: their next count is asked alongside the page. A hint for
speed only; every answer is read from Prefect."""


def _remember_length(key: str, long: bool) -> None:
    if long:
        _long_lists[key] = None
        _long_lists.move_to_end(key)
        while len(_long_lists) > LONG_LIST_MEMORY:
            _long_lists.popitem(last=False)
    else:
        _long_lists.pop(key, None)


async def list_runs(
    client: PrefectClient, org: str, filters: RunFilters, limit: int, offset: int
) -> tuple[list[RunSummary], int]:
    """The org's top-level runs, newest first (by start time, or expected start for a run not yet
    started, then id: stable across pages), and how many match in all.

    The page is read with one run more than asked, so a page that shows the end of the list gives
    the total without a count. A list that needed a count last time (or a page past the first) gets
    its count read at the same time as the page rather than after it."""
    run_filter = _org_run_filter(org, filters)
    key = run_filter.model_dump_json()
    if offset > 0 or key in _long_lists:
        page, counted = await asyncio.gather(
            newest_first_page(client, run_filter, limit, offset),
            client.count_flow_runs(flow_run_filter=run_filter),
        )
        total = page.total if page.total is not None else counted
    else:
        page = await newest_first_page(client, run_filter, limit, offset)
        if page.total is not None:
            total = page.total
        else:
            total = await client.count_flow_runs(flow_run_filter=run_filter)
    _remember_length(key, page.total is None)
    return [summarize(r) for r in page.runs], total


def _belongs(run: FlowRun, org: str) -> bool:
    return org_tag(org) in run.tags or org_deletion_tag(org) in run.tags


async def _read_run(client: PrefectClient, run_id: uuid.UUID) -> FlowRun | None:
    try:
        return await client.read_flow_run(run_id)
    except ObjectNotFound:
        return None


async def get_org_run(client: PrefectClient, org: str, run_id: uuid.UUID) -> FlowRun | None:
    """The run, only when it belongs to the org."""
    run = await _read_run(client, run_id)
    return run if run is not None and _belongs(run, org) else None


async def _children(client: PrefectClient, run_ids: list[uuid.UUID]) -> list[FlowRun]:
    """The subflow runs directly below the runs."""
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=run_ids))
    )


async def _descendant_runs(client: PrefectClient, run_id: uuid.UUID) -> list[FlowRun]:
    """Every subflow run below the run, at any depth (one read per level)."""
    found: dict[uuid.UUID, FlowRun] = {}
    frontier = [run_id]
    while frontier:
        children = [c for c in await _children(client, frontier) if c.id not in found and c.id != run_id]
        found.update((c.id, c) for c in children)
        frontier = [c.id for c in children]
    return list(found.values())


async def _task_runs(client: PrefectClient, flow_run_ids: list[uuid.UUID]) -> list[TaskRun]:
    return await client.read_task_runs(
        task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=flow_run_ids))
    )


def _steps(task_runs: list[TaskRun], subflows: list[FlowRun]) -> list[Step]:
    """The run's steps from its task runs and subflow runs, in the order they started; a task run
    that only wraps a subflow is shown as that subflow."""
    subflow_tasks = {s.parent_task_run_id for s in subflows}
    steps = [
        Step(t.id, t.name, "task", api_state(t.state), t.start_time, t.end_time)
        for t in task_runs
        if t.id not in subflow_tasks
    ]
    steps += [Step(s.id, s.name, "flow", api_state(s.state), s.start_time, s.end_time) for s in subflows]
    return sorted(steps, key=lambda s: (s.start_time is None, s.start_time or datetime.min))


@dataclass(frozen=True)
class RunDetail:
    """A run of the org with its steps and, once it has ended, its result."""

    run: FlowRun
    steps: list[Step]
    result: Any


async def run_detail(client: PrefectClient, org: str, run_id: uuid.UUID) -> RunDetail | None:
    """The run with its steps and result, only when it belongs to the org. The run, its task runs,
    its subflow runs and its result artifact are read at once (one round trip's wait); what was
    read about a run of another org is dropped unseen."""
    run, task_runs, subflows, result = await asyncio.gather(
        _read_run(client, run_id),
        _task_runs(client, [run_id]),
        _children(client, [run_id]),
        _result_artifact(client, run_id),
    )
    if run is None or not _belongs(run, org):
        return None
    final = run.state is not None and run.state.is_final()
    return RunDetail(run, _steps(task_runs, subflows), result if final else None)


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


async def org_run_logs(
    client: PrefectClient, org: str, run_id: uuid.UUID, offset: int, limit: int, level: str | None
) -> tuple[list[LogEntry], int | None] | None:
    """The logs of the org's run and all its steps, oldest first, and the offset of the next page
    (None on the last); None when the run is not the org's. The run and its subflows are read at
    once, then their logs and task names at once; nothing is returned before the org is checked."""
    run, subflows = await asyncio.gather(_read_run(client, run_id), _descendant_runs(client, run_id))
    if run is None or not _belongs(run, org):
        return None
    return await _logs(client, run, subflows, offset, limit, level)


async def _logs(
    client: PrefectClient,
    run: FlowRun,
    subflows: list[FlowRun],
    offset: int,
    limit: int,
    level: str | None,
) -> tuple[list[LogEntry], int | None]:
    flow_names: dict[uuid.UUID, str | None] = {run.id: None, **{s.id: s.name for s in subflows}}
    log_filter = LogFilter(
        flow_run_id=LogFilterFlowRunId(any_=list(flow_names)),
        level=LogFilterLevel(ge_=LOG_LEVELS[level]) if level else None,
    )
    task_runs, (logs, more) = await asyncio.gather(
        _task_runs(client, list(flow_names)), _log_page(client, log_filter, offset, limit)
    )
    task_names = {t.id: t.name for t in task_runs}

    def step_of(task_run_id: uuid.UUID | None, flow_run_id: uuid.UUID | None) -> str | None:
        if task_run_id is not None and task_run_id in task_names:
            return task_names[task_run_id]
        return flow_names.get(flow_run_id) if flow_run_id is not None else None

    entries = [
        LogEntry(
            timestamp=log.timestamp,
            level=_level_name(log.level),
            step=step_of(log.task_run_id, log.flow_run_id),
            message=_ANSI.sub("", log.message),
        )
        for log in logs
    ]
    return entries, (offset + limit if more else None)


async def _log_page(
    client: PrefectClient, log_filter: LogFilter, offset: int, limit: int
) -> tuple[list[Log], bool]:
    """One page of logs oldest first, and whether more follow: one log more is read to know,
    in the same read when that fits in Prefect's limit, else in a second read at the same time."""
    if limit < PREFECT_MAX_LIMIT:
        logs = await client.read_logs(
            log_filter=log_filter, limit=limit + 1, offset=offset, sort=LogSort.TIMESTAMP_ASC
        )
        return logs[:limit], len(logs) > limit
    logs, after = await asyncio.gather(
        client.read_logs(log_filter=log_filter, limit=limit, offset=offset, sort=LogSort.TIMESTAMP_ASC),
        client.read_logs(log_filter=log_filter, limit=1, offset=offset + limit, sort=LogSort.TIMESTAMP_ASC),
    )
    return logs, bool(after)


def _level_name(level: int) -> str:
    for name, number in sorted(LOG_LEVELS.items(), key=lambda item: -item[1]):
        if level >= number:
            return name
    return "debug"


async def cancel_run(client: PrefectClient, run: FlowRun) -> bool:
    """Ask Prefect to cancel the run (the worker then stops its process); False when it has ended."""
    if run.state is not None and run.state.is_final():
        return False
    await client.set_flow_run_state(run.id, Cancelling(message="Cancelled through the API."), force=True)
    return True
