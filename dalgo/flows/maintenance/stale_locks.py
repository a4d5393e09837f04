"""Free locks whose holder run has ended or no longer exists.

A lock is a global concurrency limit `lock:<org>:<resource>` taken with a lease; Prefect's own
repossessor frees the slots of a lease that is not renewed. This job is the safety net beside it,
for slots no lease will ever give back: the Prefect server keeps leases in memory by default, so a
restart while a lock was held leaves the slot taken for good, and a slot taken without a lease
never expires.

Prefect 3.8 has no API to list leases or their holders, so the holder of a slot is found in the
events Prefect emits when a run takes (`prefect.concurrency-limit.acquired`) and gives back
(`...released`) a slot: each names the flow run it happened in. A slot is freed only when every run
that took it and did not give it back has ended more than `grace_minutes` ago (longer than any
lease, so a lease that was going to expire has done so) or no longer exists. When no event names a
holder, the slot is freed only if the org has no run under way at all. A lock whose slot count
changed within the grace is left alone.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter
from prefect.exceptions import ObjectNotFound

from dalgo.db.columns import utcnow
from dalgo.flows.maintenance._common import plural
from dalgo.flows.results import record_result
from dalgo.naming import LOCK_PREFIX, lock_org, org_tag

ACQUIRED = "prefect.concurrency-limit.acquired"
RELEASED = "prefect.concurrency-limit.released"
EVENT_WINDOW = timedelta(days=2)
PAGE = 200
EVENT_PAGE = 50
EVENT_PAGES = 20
ACTIVE = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED]


async def held_locks(
    client: PrefectClient, only_orgs: list[str] | None
) -> list[GlobalConcurrencyLimitResponse]:
    """Every lock with a slot taken."""
    found: list[GlobalConcurrencyLimitResponse] = []
    offset = 0
    while True:
        page = await client.read_global_concurrency_limits(limit=PAGE, offset=offset)
        found.extend(
            limit
            for limit in page
            if limit.name.startswith(LOCK_PREFIX)
            and limit.active_slots > 0
            and (only_orgs is None or lock_org(limit.name) in only_orgs)
        )
        if len(page) < PAGE:
            return found
        offset += PAGE


async def holder_runs(client: PrefectClient, limit_id: uuid.UUID, since: datetime) -> list[uuid.UUID]:
    """The flow runs that took a slot of the limit since `since` and have not given it back (from
    the newest `EVENT_PAGE * EVENT_PAGES` events: a release always follows its acquisition)."""
    page = await client.read_events(
        filter=EventFilter(
            occurred=EventOccurredFilter(since=since, until=utcnow()),
            event=EventNameFilter(name=[ACQUIRED, RELEASED]),
            resource=EventResourceFilter(id=[f"prefect.concurrency-limit.{limit_id}"]),
        ),
        limit=EVENT_PAGE,
    )
    net: Counter[uuid.UUID] = Counter()
    for _ in range(EVENT_PAGES):
        for event in page.events:
            run_ids = [
                uuid.UUID(r.id.removeprefix("prefect.flow-run."))
                for r in event.related
                if r.id.startswith("prefect.flow-run.")
            ]
            for run_id in run_ids:
                net[run_id] += 1 if event.event == ACQUIRED else -1
        if not page.next_page:
            break
        page = await client.read_events_page(str(page.next_page))
    return [run_id for run_id, count in net.items() if count > 0]


async def _live_holders(client: PrefectClient, run_ids: list[uuid.UUID], grace: timedelta) -> int:
    """How many of the runs still hold their slot: not ended, or ended within the grace."""
    live = 0
    for run_id in run_ids:
        try:
            run = await client.read_flow_run(run_id)
        except ObjectNotFound:
            continue
        ended = run.state is not None and run.state.is_final()
        if not ended or (run.end_time is not None and run.end_time > utcnow() - grace):
            live += 1
    return live


async def _org_busy(client: PrefectClient, org: str) -> bool:
    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[org_tag(org)]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE)),
        ),
        limit=1,
    )
    return bool(runs)


async def free_locks(client: PrefectClient, grace: timedelta, only_orgs: list[str] | None) -> dict[str, Any]:
    """Free the slots of held locks that no live run holds; what was freed, by lock name."""
    freed: dict[str, int] = {}
    held = await held_locks(client, only_orgs)
    for limit in held:
        if limit.updated is not None and limit.updated > utcnow() - grace:
            continue
        holders = await holder_runs(client, limit.id, utcnow() - EVENT_WINDOW)
        if holders:
            keep = await _live_holders(client, holders, grace)
        else:
            keep = limit.active_slots if await _org_busy(client, lock_org(limit.name)) else 0
        if keep < limit.active_slots:
            await client.update_global_concurrency_limit(
                limit.name, GlobalConcurrencyLimitUpdate(active_slots=keep)
            )
            freed[limit.name] = limit.active_slots - keep
    return {"held_locks": len(held), "freed": freed}


@flow(name="free-stale-locks")
async def free_stale_locks(grace_minutes: float = 10.0, only_orgs: list[str] | None = None) -> dict[str, Any]:
    """Free lock slots whose holder run ended more than `grace_minutes` ago or no longer exists."""
    async with get_client() as client:
        result = await free_locks(client, timedelta(minutes=grace_minutes), only_orgs)
    logger = get_run_logger()
    logger.info(
        "Checked %s held; freed %s",
        plural(result["held_locks"], "lock"),
        plural(sum(result["freed"].values()), "stale slot"),
    )
    for name, slots in result["freed"].items():
        logger.info("Freed %s of %s", plural(slots, "slot"), name)
    await record_result(result)
    return result
