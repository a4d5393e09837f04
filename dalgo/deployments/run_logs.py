"""The logs of an org's run and of all its steps, a page at a time, oldest first.

A log line names the step that wrote it: the task run's name, else the subflow run's (a
pipeline's sync or dbt command), else none (the run itself). Which flow runs belong to a run and
what their task runs are called is read with the first page: the run, its subflows, their task
runs and the page are read at once, so a run without subflows (a sync, a dbt command) costs one
round trip's wait. Once the run has ended its tree no longer changes, so the next pages within
`RUN_TREE_TTL_S` read only the log page. Once it ended more than `SETTLED_AFTER_S` ago its log
lines no longer change either (a run's last lines reach Prefect within seconds of its end), so a
page read then is kept for `RUN_TREE_TTL_S` and asked of Prefect again only after that: the
dashboard's repeated reads of history cost Prefect nothing.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel
from prefect.client.schemas.objects import FlowRun, Log, TaskRun
from prefect.client.schemas.sorting import LogSort

from dalgo.deployments.read_cache import ShortCache
from dalgo.deployments.runs import LogEntry, belongs, child_runs, read_run, task_runs_of
from dalgo.flow_run_pages import PREFECT_MAX_LIMIT

LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

RUN_TREE_TTL_S = 60.0
"""How long an ended run's tree, and a page of a settled run's logs, is kept, in seconds."""

SETTLED_AFTER_S = 30.0
"""How long after a run's end its logs are taken as complete, in seconds: Prefect's log handler
sends what it holds every 2 s and when the run's process exits."""


@dataclass(frozen=True)
class RunTree:
    """A run's flow runs (itself, and its subflows at every depth by name) and the names of their
    task runs."""

    flow_names: dict[uuid.UUID, str | None]
    task_names: dict[uuid.UUID, str]
    ended: datetime | None = None

    def settled(self) -> bool:
        """Whether the run ended more than `SETTLED_AFTER_S` ago, so its logs no longer change."""
        return self.ended is not None and datetime.now(UTC) - self.ended >= timedelta(seconds=SETTLED_AFTER_S)

    def step_of(self, log: Log) -> str | None:
        """The step a log line was written by: its task run, else its subflow run."""
        if log.task_run_id is not None and log.task_run_id in self.task_names:
            return self.task_names[log.task_run_id]
        return self.flow_names.get(log.flow_run_id) if log.flow_run_id is not None else None


_trees: ShortCache[tuple[str, uuid.UUID], RunTree] = ShortCache(ttl_s=RUN_TREE_TTL_S, max_entries=1024)
"""Ended runs' trees by org and run id, in this process."""

LogPageKey = tuple[str, uuid.UUID, int, int, str | None]
"""A page of a run's logs: org, run id, offset, limit, level."""

_settled_pages: ShortCache[LogPageKey, tuple[list[LogEntry], int | None]] = ShortCache(
    ttl_s=RUN_TREE_TTL_S, max_entries=256
)
"""Pages of settled runs' logs, in this process."""


def _log_filter(flow_run_ids: list[uuid.UUID], level: str | None) -> LogFilter:
    return LogFilter(
        flow_run_id=LogFilterFlowRunId(any_=flow_run_ids),
        level=LogFilterLevel(ge_=LOG_LEVELS[level]) if level else None,
    )


async def org_run_logs(
    client: PrefectClient, org: str, run_id: uuid.UUID, offset: int, limit: int, level: str | None
) -> tuple[list[LogEntry], int | None] | None:
    """A page of the logs of the org's run and all its steps, oldest first, and the offset of the
    next page (None on the last); None when the run is not the org's. Nothing read is returned
    before the run is known to be the org's."""
    kept = _trees.get((org, run_id))
    if kept is not None:
        if kept.settled():
            return await _settled_pages.read(
                (org, run_id, offset, limit, level), lambda: _page(client, kept, offset, limit, level)
            )
        return await _page(client, kept, offset, limit, level)
    run, children, tasks, (logs, more) = await asyncio.gather(
        read_run(client, run_id),
        child_runs(client, [run_id]),
        task_runs_of(client, [run_id]),
        _log_page(client, _log_filter([run_id], level), offset, limit),
    )
    if run is None or not belongs(run, org):
        return None
    tree = RunTree({run.id: None}, {t.id: t.name for t in tasks})
    if children:
        subflows = await _below(client, run.id, children)
        tree = RunTree({run.id: None, **{s.id: s.name for s in subflows}}, tree.task_names)
        more_tasks, (logs, more) = await asyncio.gather(
            task_runs_of(client, [s.id for s in subflows]),
            _log_page(client, _log_filter(list(tree.flow_names), level), offset, limit),
        )
        tree.task_names.update(_names(more_tasks))
    page = _entries(logs, tree), (offset + limit if more else None)
    if run.state is not None and run.state.is_final():
        ended = RunTree(tree.flow_names, tree.task_names, run.end_time or run.state.timestamp)
        _trees.put((org, run_id), ended)
        if ended.settled():
            _settled_pages.put((org, run_id, offset, limit, level), page)
    return page


async def _page(
    client: PrefectClient, tree: RunTree, offset: int, limit: int, level: str | None
) -> tuple[list[LogEntry], int | None]:
    """A page of the logs of a run whose tree is known."""
    logs, more = await _log_page(client, _log_filter(list(tree.flow_names), level), offset, limit)
    return _entries(logs, tree), (offset + limit if more else None)


def _names(tasks: list[TaskRun]) -> dict[uuid.UUID, str]:
    return {t.id: t.name for t in tasks}


async def _below(client: PrefectClient, run_id: uuid.UUID, children: list[FlowRun]) -> list[FlowRun]:
    """Every subflow run below the run at any depth, given its children (one read per level)."""
    found = {c.id: c for c in children if c.id != run_id}
    frontier = list(found)
    while frontier:
        deeper = [c for c in await child_runs(client, frontier) if c.id not in found and c.id != run_id]
        found.update((c.id, c) for c in deeper)
        frontier = [c.id for c in deeper]
    return list(found.values())


def _entries(logs: list[Log], tree: RunTree) -> list[LogEntry]:
    return [
        LogEntry(
            timestamp=log.timestamp,
            level=_level_name(log.level),
            step=tree.step_of(log),
            message=_ANSI.sub("", log.message),
        )
        for log in logs
    ]


async def _log_page(
    client: PrefectClient, log_filter: LogFilter, offset: int, limit: int
) -> tuple[list[Log], bool]:
    """One page of logs oldest first, and whether more follow: one log more is read to know, in
    the same read when that fits in Prefect's limit, else in a second read only when the page is
    full."""
    if limit < PREFECT_MAX_LIMIT:
        logs = await client.read_logs(
            log_filter=log_filter, limit=limit + 1, offset=offset, sort=LogSort.TIMESTAMP_ASC
        )
        return logs[:limit], len(logs) > limit
    logs = await client.read_logs(
        log_filter=log_filter, limit=limit, offset=offset, sort=LogSort.TIMESTAMP_ASC
    )
    if len(logs) < limit:
        return logs, False
    after = await client.read_logs(
        log_filter=log_filter, limit=1, offset=offset + limit, sort=LogSort.TIMESTAMP_ASC
    )
    return logs, bool(after)


def _level_name(level: int) -> str:
    for name, number in sorted(LOG_LEVELS.items(), key=lambda item: -item[1]):
        if level >= number:
            return name
    return "debug"
