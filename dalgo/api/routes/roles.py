"""The five roles and their permissions."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from dalgo.api.deps import CurrentUser, SessionDep, permissions_of
from dalgo.api.schemas.roles import RolePublic
from dalgo.db.models import Role

router = APIRouter(tags=["roles"])


@router.get("/roles", response_model=list[RolePublic])
def list_roles(_: CurrentUser, session: SessionDep) -> list[RolePublic]:
    """Every role, lowest level first, with the permissions it holds."""
    roles = session.exec(select(Role).order_by(col(Role.level))).all()
    return [
        RolePublic(
            slug=r.slug, name=r.name, level=r.level, permissions=sorted(permissions_of(session, r.slug))
        )
        for r in roles
    ]
