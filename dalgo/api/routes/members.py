"""An org's members: list them, change a role, remove one."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response, status

from dalgo.api.deps import OrgContext, PageParams, SessionDep, require
from dalgo.api.schemas.common import Page
from dalgo.api.schemas.members import MemberPublic, MemberUpdate
from dalgo.api.services import orgs

router = APIRouter(prefix="/orgs/{org}/members", tags=["members"])

MEMBER_NOT_FOUND = "This organization has no member with that id."


def _org_error(exc: orgs.OrgError) -> HTTPException:
    if isinstance(exc, orgs.RoleTooHighError):
        return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=str(exc))
    if isinstance(exc, orgs.LastSuperAdminError):
        return HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc))
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc))


@router.get("", response_model=Page[MemberPublic])
def list_members(
    member: Annotated[OrgContext, require("can_view_orgusers")], session: SessionDep, page: PageParams
) -> Page[MemberPublic]:
    """The org's members with their roles, by email."""
    rows, total = orgs.list_members(session, member.org, page.limit, page.offset)
    return Page(
        data=[MemberPublic(user_id=u.id, email=u.email, role=m.role_slug) for m, u in rows], count=total
    )


@router.patch("/{user_id}", response_model=MemberPublic)
def change_member_role(
    user_id: uuid.UUID,
    body: MemberUpdate,
    member: Annotated[OrgContext, require("can_edit_orguser_role")],
    session: SessionDep,
) -> MemberPublic:
    """Give a member another role: only roles at or below the caller's own, to members at or below it."""
    found = orgs.get_member(session, member.org, user_id)
    if found is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=MEMBER_NOT_FOUND)
    membership, user = found
    try:
        role = orgs.change_role(session, member.org, member.role, membership, body.role)
    except orgs.OrgError as exc:
        raise _org_error(exc) from exc
    return MemberPublic(user_id=user.id, email=user.email, role=role.slug)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(
    user_id: uuid.UUID,
    member: Annotated[OrgContext, require("can_delete_orguser")],
    session: SessionDep,
) -> Response:
    """Remove a member (not one above the caller's role, and not the last super-admin)."""
    found = orgs.get_member(session, member.org, user_id)
    if found is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=MEMBER_NOT_FOUND)
    try:
        orgs.remove_member(session, member.org, member.role, found[0])
    except orgs.OrgError as exc:
        raise _org_error(exc) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
