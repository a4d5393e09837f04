"""Invitations: made with a mailed one-time code, accepted once, before they expire."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from dalgo.api.security import digest, new_secret
from dalgo.api.services.accounts import create_user, find_user, normalize_email
from dalgo.api.services.orgs import OrgError, check_may_grant, get_role
from dalgo.db.columns import utcnow
from dalgo.db.models import Invitation, Membership, Org, Role, User
from dalgo.mail import Mailer
from dalgo.settings import Settings


class InvitationError(ValueError):
    """An invitation that cannot be made or accepted; the message is for the person."""


class AlreadyMemberError(InvitationError):
    pass


class PasswordNeededError(InvitationError):
    pass


BAD_CODE = "This invitation code is unknown, already used or expired: ask for a new invitation."


def invite(
    session: Session,
    org: Org,
    inviter: User,
    inviter_role: Role,
    email: str,
    role_slug: str,
    settings: Settings,
    mailer: Mailer,
) -> Invitation:
    """Invite an email to the org with a role and mail the code; a pending invitation to the same
    email is replaced. Nothing is kept when the mail cannot be sent."""
    role = get_role(session, role_slug)
    check_may_grant(inviter_role, role)
    email = normalize_email(email)
    existing_user = find_user(session, email)
    if (
        existing_user is not None
        and session.exec(
            select(Membership).where(Membership.org_id == org.id, Membership.user_id == existing_user.id)
        ).first()
    ):
        raise AlreadyMemberError(f"{email} is already a member of '{org.slug}'.")
    for pending in session.exec(
        select(Invitation).where(
            Invitation.org_id == org.id, Invitation.email == email, col(Invitation.accepted_at).is_(None)
        )
    ).all():
        session.delete(pending)
    code = new_secret()
    invitation = Invitation(
        org_id=org.id,
        email=email,
        role_slug=role.slug,
        code_hash=digest(code),
        invited_by_id=inviter.id,
        expires_at=utcnow() + timedelta(days=settings.invitation_ttl_days),
    )
    session.add(invitation)
    session.flush()
    link = f"{settings.public_url.rstrip('/')}/invitations/accept?code={code}"
    days = round(settings.invitation_ttl_days)
    account_line = (
        "Sign in with your existing account after accepting."
        if existing_user
        else "You will choose a password when you accept."
    )
    mailer.send(
        email,
        f"You are invited to {org.name} on Dalgo",
        (
            f"{inviter.email} invited you to join {org.name} on Dalgo as {role.name}.\n\n"
            f"Accept here (the link works once, for {days} days):\n{link}\n\n"
            f"Or give this code to the API: {code}\n\n{account_line}\n"
        ),
    )
    session.commit()
    session.refresh(invitation)
    return invitation


def pending_invitations(
    session: Session, org: Org, limit: int, offset: int
) -> tuple[list[tuple[Invitation, User | None]], int]:
    """The org's invitations not yet accepted (expired ones included, so they can be renewed)."""
    where = (Invitation.org_id == org.id, col(Invitation.accepted_at).is_(None))
    total = session.exec(select(func.count()).select_from(Invitation).where(*where)).one()
    rows = session.exec(
        select(Invitation, User)
        .outerjoin(User, col(User.id) == col(Invitation.invited_by_id))
        .where(*where)
        .order_by(col(Invitation.created_at).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [(i, u) for i, u in rows], total


def get_invitation(session: Session, org: Org, invitation_id: uuid.UUID) -> Invitation | None:
    return session.exec(
        select(Invitation).where(
            Invitation.id == invitation_id,
            Invitation.org_id == org.id,
            col(Invitation.accepted_at).is_(None),
        )
    ).first()


def accept(session: Session, code: str, password: str | None) -> tuple[Org, Membership]:
    """Use up the code: an existing user gets the membership, a new one is made with the password."""
    invitation = session.exec(select(Invitation).where(Invitation.code_hash == digest(code))).first()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= utcnow():
        raise InvitationError(BAD_CODE)
    org = session.get(Org, invitation.org_id)
    if org is None:
        raise InvitationError(BAD_CODE)
    user = find_user(session, invitation.email)
    if user is None:
        if not password:
            raise PasswordNeededError("You are new here: choose a password to accept the invitation.")
        user = create_user(session, invitation.email, password)
    membership = session.exec(
        select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id)
    ).first()
    if membership is None:
        try:
            role = get_role(session, invitation.role_slug)
        except OrgError as exc:
            raise InvitationError(str(exc)) from exc
        membership = Membership(user_id=user.id, org_id=org.id, role_slug=role.slug)
        session.add(membership)
    invitation.accepted_at = utcnow()
    session.add(invitation)
    session.commit()
    session.refresh(membership)
    return org, membership
