"""The caller: who they are and which orgs they belong to, with what role."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from dalgo.api.deps import CurrentUser, SessionDep, permissions_of
from dalgo.api.schemas.me import MembershipPublic, MePublic
from dalgo.db.models import Membership, Org

router = APIRouter(tags=["me"])


@router.get("/me", response_model=MePublic)
def read_me(user: CurrentUser, session: SessionDep) -> MePublic:
    """The signed-in user and each of their memberships with its permissions."""
    rows = session.exec(
        select(Membership, Org)
        .join(Org, col(Org.id) == col(Membership.org_id))
        .where(Membership.user_id == user.id)
        .order_by(col(Org.slug))
    ).all()
    return MePublic(
        id=user.id,
        email=user.email,
        is_platform_admin=user.is_platform_admin,
        memberships=[
            MembershipPublic(
                org=org.slug,
                org_name=org.name,
                role=membership.role_slug,
                permissions=sorted(permissions_of(session, membership.role_slug)),
            )
            for membership, org in rows
        ],
    )
