"""Locks on an org's resources and the org's run slots, as Prefect global concurrency limits.

A resource (`connection:<id>`, `dbt-workspace`) is locked by the global concurrency limit
`lock:<org>:<resource>` (limit 1; every such name is built in `dalgo.naming`); the flow that uses
the resource holds it with a lease that is renewed while it runs and expires by itself if its
process dies. Who holds a lock is not stored anywhere else: it is the running flow run tagged with
the resource (a sync run carries `connection:<id>`, a dbt or git run `dbt-workspace`).

An org's run slots are Prefect's tag concurrency limit on `org:<slug>` (the global concurrency
limit `tag:org:<slug>`): a top-level run of the org holds one slot for as long as it runs. Task
runs are never tagged with the org, so Prefect's own task-level use of the limit never competes
with the runs that hold it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any, cast

import anyio
from prefect import get_client, get_run_logger
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import ConcurrencyLeaseHolder, FlowRun, StateType
from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse
from prefect.client.schemas.sorting import FlowRunSort
from prefect.concurrency.asyncio import AcquireConcurrencySlotTimeoutError, concurrency
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound
from prefect.flows import FlowStateHook
from prefect.states import Running

from dalgo.naming import (
    AWAITING_SLOT,
    PIPELINE_RUN_TAG_PREFIX,
    WAITING_FOR_LOCK,
    connection_tag,
    kind_tag,
    lock_name,
    org_limit_name,
    org_tag,
)

connection_resource = connection_tag
"""The resource a connection's lock is named after: the connection's tag."""

ORG_SLOT_LEASE_S = 60.0
LOCK_POLL_S = 2.0
_HOLDING = [StateType.RUNNING, StateType.CANCELLING]
_WAITING_NAMES = (WAITING_FOR_LOCK, AWAITING_SLOT)


def resource_of(org: str, limit_name: str) -> str | None:
    """The resource a lock of the org is named after, or None for any other limit."""
    prefix = lock_name(org, "")
    return limit_name.removeprefix(prefix) if limit_name.startswith(prefix) else None


def uses_resource(run: FlowRun, resource: str) -> bool:
    """Whether the run takes the resource's lock: runs are tagged with the resources they lock
    (`connection:<id>`, `dbt-workspace`); a pipeline's own run is not, its steps are."""
    return resource in run.tags and kind_tag("pipeline") not in run.tags


def is_held(limit: GlobalConcurrencyLimitResponse | None) -> bool:
    return limit is not None and limit.active and limit.active_slots >= limit.limit


def reported_run_id(run: FlowRun) -> uuid.UUID:
    """The run to name as a holder: the pipeline run a step belongs to, else the run itself."""
    for tag in run.tags:
        if tag.startswith(PIPELINE_RUN_TAG_PREFIX):
            return uuid.UUID(tag.removeprefix(PIPELINE_RUN_TAG_PREFIX))
    return run.id


async def active_org_runs(client: PrefectClient, org: str) -> list[FlowRun]:
    """The org's runs (steps included) that are running or being cancelled, oldest first (one query)."""
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[org_tag(org)]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_HOLDING)),
        ),
        sort=FlowRunSort.START_TIME_ASC,
        limit=200,
    )


def holder_of(runs: Iterable[FlowRun], resource: str) -> FlowRun | None:
    """Among the org's active runs, the one that holds the resource: the first that started using it
    and is not itself waiting."""
    for run in runs:
        waiting = run.state is not None and run.state.name in _WAITING_NAMES
        if uses_resource(run, resource) and not waiting:
            return run
    return None


def started_at(run: FlowRun) -> datetime | None:
    return run.start_time or run.expected_start_time


async def read_limit(client: PrefectClient, name: str) -> GlobalConcurrencyLimitResponse | None:
    try:
        return await client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        return None


def describe_holder(run: FlowRun | None) -> str:
    return f"run {reported_run_id(run)}" if run is not None else "a run that has not released it yet"


class LockWaitTimeoutError(RuntimeError):
    """A resource stayed locked (or the org's run slots stayed taken) for longer than the run may wait."""


async def _mark(client: PrefectClient, name: str, message: str) -> None:
    """Rename the current run's Running state (never over a cancellation under way)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    current = await client.read_flow_run(context.flow_run.id)
    if current.state is None or current.state.type != StateType.RUNNING:
        return
    await client.set_flow_run_state(context.flow_run.id, Running(name=name, message=message))


async def wait_until_free(org: str, resources: list[str], timeout_s: float) -> None:
    """Return once none of the resources is locked. Meanwhile the current run shows the
    `WaitingForLock` state naming the holder; after `timeout_s` raise LockWaitTimeoutError."""
    logger = get_run_logger()
    deadline = time.monotonic() + timeout_s
    waiting = False
    async with get_client() as client:
        while True:
            busy = [r for r in resources if is_held(await read_limit(client, lock_name(org, r)))]
            if not busy:
                break
            holder = holder_of(await active_org_runs(client, org), busy[0])
            message = f"Waiting for {busy[0]}, which {describe_holder(holder)} holds."
            if time.monotonic() >= deadline:
                raise LockWaitTimeoutError(
                    f"Gave up after waiting {timeout_s:.0f} s for {busy[0]}: "
                    f"{describe_holder(holder)} still holds it."
                )
            if not waiting:
                logger.info(message)
                await _mark(client, WAITING_FOR_LOCK, message)
                waiting = True
            await anyio.sleep(LOCK_POLL_S)
        if waiting:
            logger.info("%s %s free now", ", ".join(resources), "is" if len(resources) == 1 else "are")
            await _mark(client, "Running", "")


@asynccontextmanager
async def hold_lock(
    org: str,
    resource: str,
    lease_s: float,
    wait_s: float,
    holder: ConcurrencyLeaseHolder | None = None,
) -> AsyncIterator[None]:
    """Hold the resource's lock (with a lease of `lease_s`, renewed while the body runs). When it is
    taken, the current run shows `WaitingForLock` naming the holder, and after `wait_s` fails with
    LockWaitTimeoutError. A flow that takes its lock this way waits visibly however it was started.

    The lock is read first and then taken with one wait, never with a short first try: a try that
    the client gives up on while its request is under way can still be granted by the server, and
    that slot would stay taken, by nobody, until its lease ran out."""
    name = lock_name(org, resource)

    def take(timeout_s: float) -> Any:
        return concurrency(
            name, timeout_seconds=timeout_s, lease_duration=lease_s, strict=True, holder=holder
        )

    async with AsyncExitStack() as stack:
        async with get_client() as client:
            waiting = is_held(await read_limit(client, name))
            if waiting:
                runs = await active_org_runs(client, org)
                message = f"Waiting for {resource}, which {describe_holder(holder_of(runs, resource))} holds."
                get_run_logger().info(message)
                await _mark(client, WAITING_FOR_LOCK, message)
            try:
                await stack.enter_async_context(take(wait_s))
            except AcquireConcurrencySlotTimeoutError as exc:
                runs = await active_org_runs(client, org)
                raise LockWaitTimeoutError(
                    f"Gave up after waiting {wait_s:.0f} s for {resource}: "
                    f"{describe_holder(holder_of(runs, resource))} still holds it."
                ) from exc
            if waiting:
                await _mark(client, "Running", "")
        yield


def _is_subflow() -> bool:
    context = FlowRunContext.get()
    return context is not None and context.flow_run is not None and bool(context.flow_run.parent_task_run_id)


@asynccontextmanager
async def org_run_slot(org: str, timeout_s: float) -> AsyncIterator[None]:
    """Hold one of the org's run slots while the body runs (nothing inside a parent run, which holds
    one already, nor for an org that has no run limit yet). When all are taken the run shows
    `AwaitingConcurrencySlot` until one frees, and fails after `timeout_s`. Take it before any
    resource lock, so that two runs never wait for each other."""
    name = org_limit_name(org)
    if _is_subflow():
        yield
        return
    async with get_client() as client:
        limit = await read_limit(client, name)
    if limit is None:
        yield
        return
    context = FlowRunContext.get()
    holder = (
        ConcurrencyLeaseHolder(type="flow_run", id=context.flow_run.id)
        if context is not None and context.flow_run is not None
        else None
    )

    def take(wait_s: float) -> Any:
        return concurrency(name, timeout_seconds=wait_s, lease_duration=ORG_SLOT_LEASE_S, holder=holder)

    async with AsyncExitStack() as stack:
        await _take_slot(org, name, is_held(limit), timeout_s, stack, take)
        yield


async def _take_slot(
    org: str, name: str, full: bool, timeout_s: float, stack: AsyncExitStack, take: Callable[[float], Any]
) -> None:
    """Take one of the org's run slots, waiting up to `timeout_s`; when they were all taken as the
    run started (`full`), the run shows `AwaitingConcurrencySlot` meanwhile."""
    async with get_client() as client:
        if full:
            limit = await read_limit(client, name)
            slots = limit.limit if limit else 0
            message = f"Waiting for one of {org}'s {slots} run slots: that many of its runs are going."
            get_run_logger().info(message)
            await _mark(client, AWAITING_SLOT, message)
        try:
            await stack.enter_async_context(take(timeout_s))
        except AcquireConcurrencySlotTimeoutError as exc:
            limit = await read_limit(client, name)
            slots = limit.limit if limit else 0
            runs = [r for r in await active_org_runs(client, org) if not r.parent_task_run_id]
            names = ", ".join(str(r.id) for r in runs) or "none that are still running"
            raise LockWaitTimeoutError(
                f"Gave up after waiting {timeout_s:.0f} s for one of {org}'s {slots} run slots "
                f"(runs going: {names})."
            ) from exc
        if full:
            await _mark(client, "Running", "")


def tag_run_hook(tags: list[str]) -> FlowStateHook[..., Any]:
    """A flow hook that adds the tags to a run as it starts. Steps of a pipeline are tagged this way
    rather than through Prefect's tags context, so that their task runs do not carry the org tag."""

    async def add_tags(flow: Any, flow_run: FlowRun, state: Any) -> None:
        async with get_client() as client:
            await client.update_flow_run(flow_run.id, tags=sorted(set(flow_run.tags) | set(tags)))

    return cast(FlowStateHook[..., Any], add_tags)
