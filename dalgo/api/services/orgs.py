"""Orgs, their members and the rules about who may give which role."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func
from sqlmodel import Session, col, select

from dalgo.db.models import Membership, Org, Role, User


class OrgError(ValueError):
    """A request about an org that cannot be honoured; the message is for the person."""


class SlugTakenError(OrgError):
    pass


class RoleTooHighError(OrgError):
    pass


class LastSuperAdminError(OrgError):
    pass


def slugify(name: str) -> str:
    """A slug made from a name: lower-case letters, digits and single dashes, 3 to 40 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    if len(slug) < 3:
        slug = (slug + "-org").strip("-") if slug else "org"
        slug = slug if len(slug) >= 3 else f"{slug}-{uuid.uuid4().hex[:4]}"
    return slug


def create_org(session: Session, name: str, slug: str | None, creator: User) -> Org:
    """A new org whose creator becomes its super-admin."""
    slug = slug or slugify(name)
    if session.exec(select(Org).where(Org.slug == slug)).first() is not None:
        raise SlugTakenError(f"The slug '{slug}' is taken: choose another one.")
    org = Org(slug=slug, name=name)
    session.add(org)
    session.flush()
    session.add(Membership(user_id=creator.id, org_id=org.id, role_slug=top_role(session).slug))
    session.commit()
    session.refresh(org)
    return org


def top_role(session: Session) -> Role:
    role = session.exec(select(Role).order_by(col(Role.level).desc())).first()
    if role is None:
        raise RuntimeError("the roles are not seeded")
    return role


def get_role(session: Session, slug: str) -> Role:
    """The role with this slug; OrgError naming the roles there are when it does not exist."""
    role = session.get(Role, slug)
    if role is None:
        slugs = ", ".join(r.slug for r in session.exec(select(Role).order_by(col(Role.level))).all())
        raise OrgError(f"There is no role '{slug}'; the roles are: {slugs}.")
    return role


def check_may_grant(caller_role: Role, role: Role) -> None:
    """A caller may give only roles at or below their own level."""
    if role.level > caller_role.level:
        raise RoleTooHighError(
            f"You may give only roles at or below your own ({caller_role.name}); '{role.slug}' is above it."
        )


def list_members(
    session: Session, org: Org, limit: int, offset: int
) -> tuple[list[tuple[Membership, User]], int]:
    query = (
        select(Membership, User)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(Membership.org_id == org.id)
    )
    total = session.exec(
        select(func.count()).select_from(Membership).where(Membership.org_id == org.id)
    ).one()
    rows = session.exec(query.order_by(col(User.email)).offset(offset).limit(limit)).all()
    return [(m, u) for m, u in rows], total


def get_member(session: Session, org: Org, user_id: uuid.UUID) -> tuple[Membership, User] | None:
    row = session.exec(
        select(Membership, User)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(Membership.org_id == org.id, Membership.user_id == user_id)
    ).first()
    return None if row is None else (row[0], row[1])


def _check_keeps_a_super_admin(session: Session, org: Org, membership: Membership) -> None:
    top = top_role(session)
    if membership.role_slug != top.slug:
        return
    others = session.exec(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.org_id == org.id,
            Membership.role_slug == top.slug,
            Membership.id != membership.id,
        )
    ).one()
    if others == 0:
        raise LastSuperAdminError(
            f"'{org.slug}' must keep at least one {top.name}: give the role to someone else first."
        )


def change_role(
    session: Session, org: Org, caller_role: Role, membership: Membership, role_slug: str
) -> Role:
    """Give a member another role, within what the caller may grant."""
    role = get_role(session, role_slug)
    current = get_role(session, membership.role_slug)
    check_may_grant(caller_role, current)
    check_may_grant(caller_role, role)
    if role.slug != membership.role_slug:
        _check_keeps_a_super_admin(session, org, membership)
        membership.role_slug = role.slug
        session.add(membership)
        session.commit()
    return role


def remove_member(session: Session, org: Org, caller_role: Role, membership: Membership) -> None:
    """Remove a member whose role is at or below the caller's, keeping one super-admin."""
    check_may_grant(caller_role, get_role(session, membership.role_slug))
    _check_keeps_a_super_admin(session, org, membership)
    session.delete(membership)
    session.commit()
