"""What an alert says about a run, read from Prefect: the runs that failed, what they were (their
deployment), the step that failed first and the first lines of the error."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterParentTaskRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    LogFilterLevel,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import LogSort
from prefect.exceptions import ObjectNotFound

from dalgo.flow_run_pages import all_runs, newest_first
from dalgo.naming import kind_tag, org_tag

ALERT_KINDS = ("pipeline", "sync", "dbt", "git")
"""Runs of these kinds are alerted on when they fail; checks, discovers and maintenance are not."""

FAILED_TYPES = [StateType.FAILED, StateType.CRASHED]
MAX_ERROR_LINES = 12
MAX_LINE = 300
ERROR_LEVEL = 40
TRACEBACK_TAIL = 3
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


async def failed_runs(client: PrefectClient, since: datetime, only_orgs: list[str] | None) -> list[FlowRun]:
    """Top-level runs of the alerted kinds that ended Failed or Crashed since `since`, newest first.

    A run waiting for a retry is Scheduled (AwaitingRetry), not Failed, so it is not found until its
    last attempt has failed; a run completed with warnings is Completed."""
    found: dict[uuid.UUID, FlowRun] = {}
    tag_sets: list[list[str] | None] = [[org_tag(o)] for o in only_orgs] if only_orgs is not None else [None]
    for tags in tag_sets:
        run_filter = FlowRunFilter(
            tags=FlowRunFilterTags(any_=[kind_tag(k) for k in ALERT_KINDS], all_=tags),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=FAILED_TYPES)),
            end_time=FlowRunFilterEndTime(after_=since),
            parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True),
        )
        found.update((run.id, run) for run in await all_runs(client, run_filter, "end"))
    return newest_first(list(found.values()), "end")


@dataclass(frozen=True)
class FailureFacts:
    """What went wrong in a run, in words for a person."""

    what: str
    step: str | None
    error_lines: list[str]


def _lines(text: str | None) -> list[str]:
    if not text:
        return []
    lines = [_ANSI.sub("", line).rstrip() for line in text.strip().splitlines()]
    return [line[:MAX_LINE] for line in lines if line.strip()]


async def _what(client: PrefectClient, run: FlowRun, org: str) -> str:
    """The deployment the run belongs to, as its description or its name without the slug; for a
    run of no deployment, its flow's name."""
    if run.deployment_id is not None:
        try:
            deployment = await client.read_deployment(run.deployment_id)
        except ObjectNotFound:
            deployment = None
        if deployment is not None:
            return deployment.description or deployment.name.removeprefix(f"{org}--")
    try:
        return (await client.read_flow(run.flow_id)).name
    except ObjectNotFound:
        return run.name.removeprefix(f"{org}--")


async def _children(client: PrefectClient, run_ids: list[uuid.UUID]) -> list[FlowRun]:
    if not run_ids:
        return []
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=run_ids))
    )


async def _failed_step(client: PrefectClient, run: FlowRun) -> tuple[str | None, str | None]:
    """The first step (subflow or task run) of the run that failed, and its state message."""
    subflows = await _children(client, [run.id])
    wrappers = {s.parent_task_run_id for s in subflows}
    tasks = await client.read_task_runs(
        task_run_filter=TaskRunFilter(
            flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]),
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=FAILED_TYPES)),
        )
    )
    candidates: list[tuple[datetime | None, str, str | None]] = []
    for task in tasks:
        if task.id not in wrappers and task.state is not None:
            candidates.append((task.end_time, task.name, task.state.message))
    for sub in subflows:
        if sub.state is not None and sub.state.type in FAILED_TYPES:
            flow_name = (await client.read_flow(sub.flow_id)).name
            candidates.append((sub.end_time, f"{flow_name} ({sub.name})", sub.state.message))
    if not candidates:
        return None, None
    _, name, message = min(candidates, key=lambda c: (c[0] is None, c[0] or EPOCH))
    return name, message


async def _last_error_logs(client: PrefectClient, run: FlowRun) -> list[str]:
    """The last error log lines of the run and its subflows (at any depth), oldest first."""
    ids = [run.id]
    frontier = [run.id]
    while frontier and len(ids) < 50:
        children = [c for c in await _children(client, frontier) if c.id not in ids]
        ids.extend(c.id for c in children)
        frontier = [c.id for c in children]
    logs = await client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids), level=LogFilterLevel(ge_=ERROR_LEVEL)),
        limit=3,
        sort=LogSort.TIMESTAMP_DESC,
    )
    lines: list[str] = []
    for entry in reversed(logs):
        text = _lines(entry.message)
        if any(line.startswith("Traceback (most recent call last)") for line in text):
            text = [text[0], *text[-TRACEBACK_TAIL:]] if len(text) > TRACEBACK_TAIL else text
        lines.extend(text[:MAX_ERROR_LINES])
    return lines


async def failure_facts(client: PrefectClient, run: FlowRun, org: str) -> FailureFacts:
    """The deployment, failed step and first lines of the error of a failed or crashed run."""
    step, step_message = await _failed_step(client, run)
    lines = _lines(step_message) or _lines(run.state.message if run.state else None)
    for line in await _last_error_logs(client, run):
        if line not in lines:
            lines.append(line)
    return FailureFacts(what=await _what(client, run, org), step=step, error_lines=lines[:MAX_ERROR_LINES])
