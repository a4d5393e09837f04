"""Organizations: create (platform admins), list the caller's, read one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from sqlmodel import col, select

from dalgo.api.deps import (
    CurrentUser,
    OrgContext,
    PlatformAdmin,
    PrefectDep,
    SessionDep,
    SettingsDep,
    require,
)
from dalgo.api.schemas.common import FlowRunStarted
from dalgo.api.schemas.orgs import OrgCreate, OrgPublic, OrgWithRolePublic
from dalgo.api.services import orgs
from dalgo.db.models import Membership, Org
from dalgo.deployments.operations import DELETE_ORG, start_operation
from dalgo.naming import org_deletion_tag

router = APIRouter(prefix="/orgs", tags=["orgs"])


@router.post("", response_model=OrgPublic, status_code=status.HTTP_201_CREATED)
def create_org(body: OrgCreate, admin: PlatformAdmin, session: SessionDep) -> Org:
    """Create an org; the platform admin who makes it becomes its super-admin."""
    try:
        return orgs.create_org(session, body.name, body.slug, admin)
    except orgs.SlugTakenError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc


@router.get("", response_model=list[OrgWithRolePublic])
def list_my_orgs(user: CurrentUser, session: SessionDep) -> list[OrgWithRolePublic]:
    """The orgs the caller belongs to, with their role in each."""
    rows = session.exec(
        select(Org, Membership)
        .join(Membership, col(Membership.org_id) == col(Org.id))
        .where(Membership.user_id == user.id)
        .order_by(col(Org.slug))
    ).all()
    return [
        OrgWithRolePublic(slug=o.slug, name=o.name, created_at=o.created_at, role=m.role_slug)
        for o, m in rows
    ]


@router.get("/{org}", response_model=OrgWithRolePublic)
def read_org(member: Annotated[OrgContext, require("can_view_org")]) -> OrgWithRolePublic:
    """One org the caller belongs to; 404 for any other, whether or not it exists."""
    return OrgWithRolePublic(
        slug=member.org.slug,
        name=member.org.name,
        created_at=member.org.created_at,
        role=member.role.slug,
    )


@router.delete("/{org}", response_model=FlowRunStarted, status_code=status.HTTP_202_ACCEPTED)
async def delete_org(
    member: Annotated[OrgContext, require("can_delete_org")], client: PrefectDep, settings: SettingsDep
) -> FlowRunStarted:
    """Start deleting the org: its Prefect objects, local files, memberships and the org itself.

    Follow the run under /runs/{flow_run_id} while the org exists; afterwards the org answers 404.
    """
    run_id = await start_operation(
        client,
        settings,
        DELETE_ORG,
        member.org.slug,
        {"org": member.org.slug},
        triggered_by=member.user.email,
        extra_tags=(org_deletion_tag(member.org.slug),),
        tag_with_org=False,
    )
    return FlowRunStarted(flow_run_id=run_id)
