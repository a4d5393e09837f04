"""Fairness between orgs: how many runs each org may have going at once, and where its runs go.

The number is the limit of Prefect's tag concurrency limit on `org:<slug>` (kept by Prefect as the
global concurrency limit `tag:org:<slug>`), made with the platform's default the first time an org
gets a pipeline and changed only by platform admins. An org's top-level runs each hold one slot
of it while they run (dalgo/flows/concurrency.py), so one org's backlog waits for its own slots and
never for another org's.

Which work pool and queue an org's runs go to is data on the org (`Org.work_pool`,
`Org.work_queue`; null means the platform's pool and that pool's default queue).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from sqlmodel import Session, select

from dalgo.db.engine import make_engine
from dalgo.db.models import Org
from dalgo.deployments.work_pools import ensure_work_pool
from dalgo.flows.concurrency import read_limit
from dalgo.naming import org_limit_name
from dalgo.settings import Settings


@dataclass(frozen=True)
class Placement:
    """The work pool, and the queue in it (None: the pool's default queue), an org's runs go to."""

    work_pool: str
    work_queue: str | None = None


def placement_of(org: Org, settings: Settings) -> Placement:
    return Placement(work_pool=org.work_pool or settings.work_pool, work_queue=org.work_queue)


def org_placement(settings: Settings, slug: str) -> Placement | None:
    """The placement of the org with this slug, read from the API database (None: no such org)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            org = session.exec(select(Org).where(Org.slug == slug)).first()
            return placement_of(org, settings) if org is not None else None
    finally:
        engine.dispose()


async def ensure_placement(client: PrefectClient, settings: Settings, placement: Placement) -> None:
    """Make the pool (a process pool) and the queue, unless they exist."""
    await ensure_work_pool(client, settings.model_copy(update={"work_pool": placement.work_pool}))
    if placement.work_queue:
        try:
            await client.read_work_queue_by_name(placement.work_queue, work_pool_name=placement.work_pool)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                await client.create_work_queue(placement.work_queue, work_pool_name=placement.work_pool)


async def org_run_limit(client: PrefectClient, org: str) -> int | None:
    """How many runs the org may have going at once; None when no limit was made for it yet."""
    limit = await read_limit(client, org_limit_name(org))
    return limit.limit if limit is not None else None


async def ensure_org_run_limit(client: PrefectClient, settings: Settings, org: str) -> int:
    """The org's run limit, made with the platform's default if it has none."""
    current = await org_run_limit(client, org)
    if current is not None:
        return current
    with contextlib.suppress(ObjectAlreadyExists):
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=org_limit_name(org), limit=settings.org_run_limit)
        )
    return await org_run_limit(client, org) or settings.org_run_limit


async def set_org_run_limit(client: PrefectClient, org: str, limit: int) -> None:
    """Set how many runs the org may have going at once (runs already going are left alone)."""
    name = org_limit_name(org)
    try:
        await client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=limit))
    except ObjectNotFound:
        await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
