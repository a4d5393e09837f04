"""Invitations: an org invites an email with a role; the mailed code accepts it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status
from sqlmodel import select

from dalgo.api.deps import MailerDep, OrgContext, PageParams, SessionDep, SettingsDep, require
from dalgo.api.ratelimit import ClientAddress, SignInLimiterDep
from dalgo.api.schemas.common import Page
from dalgo.api.schemas.invitations import (
    InvitationAccept,
    InvitationAccepted,
    InvitationCreate,
    InvitationPublic,
)
from dalgo.api.security import digest
from dalgo.api.services import invitations, orgs
from dalgo.db.models import Invitation, User
from dalgo.mail import MailError

org_router = APIRouter(prefix="/orgs/{org}/invitations", tags=["invitations"])
router = APIRouter(prefix="/invitations", tags=["invitations"])


def _public(invitation: Invitation, inviter: User | None) -> InvitationPublic:
    return InvitationPublic(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role_slug,
        expires_at=invitation.expires_at,
        created_at=invitation.created_at,
        invited_by=inviter.email if inviter else None,
    )


@org_router.post("", response_model=InvitationPublic, status_code=status.HTTP_201_CREATED)
def create_invitation(
    body: InvitationCreate,
    member: Annotated[OrgContext, require("can_create_invitation")],
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
) -> InvitationPublic:
    """Invite an email with a role at or below the caller's; the code goes by mail only."""
    try:
        invitation = invitations.invite(
            session, member.org, member.user, member.role, body.email, body.role, settings, mailer
        )
    except orgs.RoleTooHighError as exc:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    except orgs.OrgError as exc:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    except invitations.AlreadyMemberError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except MailError as exc:
        session.rollback()
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"The invitation was not made because its mail could not be sent. {exc}",
        ) from exc
    return _public(invitation, member.user)


@org_router.get("", response_model=Page[InvitationPublic])
def list_invitations(
    member: Annotated[OrgContext, require("can_view_invitations")], session: SessionDep, page: PageParams
) -> Page[InvitationPublic]:
    """The org's invitations not yet accepted, newest first."""
    rows, total = invitations.pending_invitations(session, member.org, page.limit, page.offset)
    return Page(data=[_public(i, u) for i, u in rows], count=total)


@org_router.delete("/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_invitation(
    invitation_id: uuid.UUID,
    member: Annotated[OrgContext, require("can_delete_invitation")],
    session: SessionDep,
) -> Response:
    """Withdraw an invitation: its code stops working."""
    invitation = invitations.get_invitation(session, member.org, invitation_id)
    if invitation is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail="This organization has no pending invitation with that id.",
        )
    session.delete(invitation)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def limited_accept(
    body: InvitationAccept, session: SessionDep, limiter: SignInLimiterDep, address: ClientAddress
) -> InvitationAccept:
    """The acceptance, once counted for the address and, when the code is a known one, for the
    invitation's email (429 over either)."""
    email = session.exec(select(Invitation.email).where(Invitation.code_hash == digest(body.code))).first()
    limiter.hit("invitation-accept", address, email)
    return body


LimitedAccept = Annotated[InvitationAccept, Depends(limited_accept)]


@router.post("/accept", response_model=InvitationAccepted)
def accept_invitation(body: LimitedAccept, session: SessionDep) -> InvitationAccepted:
    """Accept with the mailed code; someone new also chooses a password. The code is the key."""
    try:
        org, membership = invitations.accept(session, body.code, body.password)
    except invitations.InvitationError as exc:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    return InvitationAccepted(org=org.slug, role=membership.role_slug)
