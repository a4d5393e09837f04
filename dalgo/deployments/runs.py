"""An org's runs read from Prefect: the run list, the reads a run's detail and logs share
(`run_detail`, `run_logs`), and cancelling.

Nothing is copied: every answer is a filtered, paginated Prefect query (a list's count is kept a
few seconds, `RUN_COUNT_TTL_S`). A run belongs to an org when it carries the tag `org:<slug>`; any
other run is treated as if it did not exist.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterParentTaskRunId,
    FlowRunFilterState,
    FlowRunFilterStateName,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelling
from pydantic import BaseModel, ConfigDict

from dalgo.deployments.read_cache import ShortCache
from dalgo.flow_run_pages import newest_first_page
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


class RunSummary(BaseModel):
    """A run as the run list shows it."""

    model_config = ConfigDict(frozen=True)

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


class RunStep(BaseModel):
    """One step of a run: a task run, or a subflow run (a pipeline's sync or dbt command)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    name: str
    type: str
    state: str
    start_time: datetime | None
    end_time: datetime | None


class RunBrief(BaseModel):
    """A run in brief, as a connection, pipeline or dbt workspace shows its last or holding run."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    state: str
    since: datetime | None
    end_time: datetime | None


def run_brief(run: FlowRun | None) -> RunBrief | None:
    """The run in brief (since: its start, or expected start), or None for no run."""
    if run is None:
        return None
    since = run.start_time or run.expected_start_time
    return RunBrief(id=run.id, state=api_state(run.state), since=since, end_time=run.end_time)


class LogEntry(BaseModel):
    """One log line of a run, with the name of the step that wrote it (None: the run itself)."""

    model_config = ConfigDict(frozen=True)

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


RUN_COUNT_TTL_S = 5.0
"""How long a list's count is taken as the count of its next pages, in seconds."""

_counts: ShortCache[str, int] = ShortCache(ttl_s=RUN_COUNT_TTL_S, max_entries=4096)
"""The counts of lists longer than a page, by filter, in this process."""


async def _count(client: PrefectClient, key: str, run_filter: FlowRunFilter) -> int:
    """Prefect's count of the filter's runs, kept for the next pages and next asks."""
    return await _counts.read(key, lambda: client.count_flow_runs(flow_run_filter=run_filter))


async def list_runs(
    client: PrefectClient, org: str, filters: RunFilters, limit: int, offset: int
) -> tuple[list[RunSummary], int]:
    """The org's top-level runs, newest first (by start time, or expected start for a run not yet
    started, then id: stable across pages), and how many match in all.

    The page is read with one run more than asked, so a page that shows the end of the list gives
    the total without a count. A list longer than a page is counted once every `RUN_COUNT_TTL_S`
    seconds at most: a count read since, and not contradicted by the page (a page never shows
    more runs than the count), serves the next pages and the next asks. A list that needed a count
    last time has its count read alongside the page rather than after it."""
    run_filter = _org_run_filter(org, filters)
    key = run_filter.model_dump_json()
    kept = _counts.get(key)
    counted: int | None
    if kept is None and (offset > 0 or key in _long_lists):
        page, counted = await asyncio.gather(
            newest_first_page(client, run_filter, limit, offset), _count(client, key, run_filter)
        )
    else:
        page = await newest_first_page(client, run_filter, limit, offset)
        counted = kept
    if page.total is not None:
        total = page.total
        _counts.forget(key)
        _long_lists.pop(key, None)
    else:
        seen = offset + len(page.runs) + 1 if page.runs else 0
        if counted is None or counted < seen or (not page.runs and kept is not None):
            _counts.forget(key)
            counted = await _count(client, key, run_filter)
        total = max(counted, seen)
        _long_lists[key] = None
        if len(_long_lists) > LONG_LIST_MEMORY:
            _long_lists.pop(next(iter(_long_lists)))
    return [summarize(r) for r in page.runs], total


LONG_LIST_MEMORY = 4096
"""How many run lists (org and filters) a process remembers as longer than one page."""

_long_lists: dict[str, None] = {}
"""Lists that needed a count last time: their next count is asked alongside the page."""


def belongs(run: FlowRun, org: str) -> bool:
    """Whether the run is the org's (or was, for an org being deleted)."""
    return org_tag(org) in run.tags or org_deletion_tag(org) in run.tags


async def read_run(client: PrefectClient, run_id: uuid.UUID) -> FlowRun | None:
    """The run, or None when Prefect has none with that id."""
    try:
        return await client.read_flow_run(run_id)
    except ObjectNotFound:
        return None


async def get_org_run(client: PrefectClient, org: str, run_id: uuid.UUID) -> FlowRun | None:
    """The run, only when it belongs to the org."""
    run = await read_run(client, run_id)
    return run if run is not None and belongs(run, org) else None


async def child_runs(client: PrefectClient, run_ids: list[uuid.UUID]) -> list[FlowRun]:
    """The subflow runs directly below the runs."""
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=run_ids))
    )


async def task_runs_of(client: PrefectClient, flow_run_ids: list[uuid.UUID]) -> list[TaskRun]:
    """The task runs of the flow runs."""
    return await client.read_task_runs(
        task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=flow_run_ids))
    )


async def cancel_run(client: PrefectClient, run: FlowRun) -> bool:
    """Ask Prefect to cancel the run (the worker then stops its process); False when it has ended."""
    if run.state is not None and run.state.is_final():
        return False
    await client.set_flow_run_state(run.id, Cancelling(message="Cancelled through the API."), force=True)
    return True
