"""Platform admins set, per org, how many runs it may have going at once, where its runs go, how long
they are kept, and how long one of its commands may run."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from prefect.client.orchestration import PrefectClient
from sqlmodel import select

from dalgo.api.deps import PlatformAdmin, PrefectDep, SessionDep, SettingsDep
from dalgo.api.schemas.org_execution import OrgExecutionPublic, OrgExecutionUpdate
from dalgo.db.models import Org
from dalgo.deployments import fairness
from dalgo.deployments.placement import reapply_org_deployments
from dalgo.flows import time_limit as time_limit_of
from dalgo.settings import Settings

router = APIRouter(prefix="/platform/orgs/{org}/execution", tags=["platform"])


def _org(session: SessionDep, slug: str) -> Org:
    org = None if "\x00" in slug else session.exec(select(Org).where(Org.slug == slug)).first()
    if org is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"There is no organization '{slug}'."
        )
    return org


async def _public(client: PrefectClient, settings: Settings, org: Org) -> OrgExecutionPublic:
    placement = fairness.placement_of(org, settings)
    limit = await fairness.org_run_limit(client, org.slug)
    time_limit = await time_limit_of.read_org_time_limit(client, org.slug)
    return OrgExecutionPublic(
        org=org.slug,
        max_concurrent_runs=limit if limit is not None else settings.org_run_limit,
        work_pool=placement.work_pool,
        work_queue=placement.work_queue,
        retention_days=org.retention_days,
        command_time_limit_s=time_limit or settings.command_time_limit_s,
    )


@router.get("", response_model=OrgExecutionPublic)
async def read_execution(
    org: str, admin: PlatformAdmin, session: SessionDep, client: PrefectDep, settings: SettingsDep
) -> OrgExecutionPublic:
    """How many runs the org may have going at once, the work pool and queue its runs go to, how
    long its runs are kept, and how long one of its commands may run."""
    return await _public(client, settings, _org(session, org))


@router.put("", response_model=OrgExecutionPublic)
async def update_execution(
    org: str,
    body: OrgExecutionUpdate,
    admin: PlatformAdmin,
    session: SessionDep,
    client: PrefectDep,
    settings: SettingsDep,
) -> OrgExecutionPublic:
    """Change the org's run limit, how long its runs are kept or one of its commands may run (runs
    already going keep the limit they started with), or move its runs to another work pool or queue
    (its pipelines and connections are moved at once; runs already scheduled keep their queue)."""
    row = _org(session, org)
    if body.max_concurrent_runs is not None:
        await fairness.set_org_run_limit(client, row.slug, body.max_concurrent_runs)
    if body.command_time_limit_s is not None:
        await time_limit_of.set_org_time_limit(client, row.slug, body.command_time_limit_s)
    elif "command_time_limit_s" in body.model_fields_set:
        await time_limit_of.remove_org_time_limit(client, row.slug)
    if body.retention_days is not None:
        row.retention_days = body.retention_days
        session.add(row)
        session.commit()
        session.refresh(row)
    fields = body.model_fields_set & {"work_pool", "work_queue"}
    if fields:
        for name in fields:
            setattr(row, name, getattr(body, name))
        await reapply_org_deployments(client, settings, row.slug, fairness.placement_of(row, settings))
        session.add(row)
        session.commit()
        session.refresh(row)
    return await _public(client, settings, row)
