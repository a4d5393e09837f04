"""A top-level run whose org has no free run slot gives its worker place back instead of waiting in it.

The worker runs at most its `--limit` of flow runs at once (DALGO_WORKER_LIMIT). A run that waited
for one of its org's slots inside its process would hold one of those places all the while, so one
org with many runs due at once could fill the worker and keep every other org's runs out. Instead,
such a run is put back in the work pool, Scheduled again a little later under Prefect's own name
for it (`AwaitingConcurrencySlot`), and its process ends; the worker takes it again when it is due,
by which time a slot may be free. This is what Prefect does itself for deployment concurrency
limits (which are per deployment, not per org). Only the runs of the full org wait, and they wait
in the pool, holding nothing.

A run gives way only while it is younger than its wait limit; after that it waits in place
(`dalgo.flows.concurrency.org_run_slot`), which fails it after the same limit, as before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import get_client, get_run_logger
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.exceptions import Pause
from prefect.states import Scheduled

from dalgo.flows.concurrency import is_held, read_limit
from dalgo.naming import AWAITING_SLOT, org_limit_name

GIVE_WAY_S = 20.0
"""How long a run that gave way waits in the work pool before the worker takes it again."""


async def give_way_while_org_full(org: str, wait_s: float, again_in_s: float = GIVE_WAY_S) -> None:
    """Return at once when the current run is a subflow or not a deployment's run (no worker would
    take it again), is older than `wait_s`, or its org has a free run slot (or no run limit).
    Otherwise put the run back in the work pool, Scheduled in `again_in_s`, and end its process
    (Prefect's `Pause` signal ends it cleanly, exit code 0)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    run = context.flow_run
    if run.parent_task_run_id or run.deployment_id is None:
        return  # a step of a pipeline, or a run called in a process of its own: no worker to return to
    now = datetime.now(UTC)
    if run.created is not None and now - run.created > timedelta(seconds=wait_s):
        return
    async with get_client() as client:
        limit = await read_limit(client, org_limit_name(org))
        if limit is None or not is_held(limit):
            return
        message = (
            f"All of {org}'s {limit.limit} run slots are taken: this run waits in the work pool, "
            f"holding no worker, and is tried again in {again_in_s:.0f} s."
        )
        get_run_logger().info(message)
        state: State[Any] = Scheduled(
            scheduled_time=now + timedelta(seconds=again_in_s), name=AWAITING_SLOT, message=message
        )
        await client.set_flow_run_state(run.id, state, force=True)
    raise Pause(state=state)
