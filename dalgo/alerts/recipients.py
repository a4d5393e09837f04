"""Who is told: members of an org with given roles, or the platform admins, and whether they want
failure mails."""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from dalgo.alerts.delivery import Recipient
from dalgo.db.models import Membership, User
from dalgo.db.notification_models import UserPreference

FAILURE_ROLES = ("account-manager", "pipeline-manager")
"""Who hears about a failed run of an org. Super-admins are platform staff: they watch the
Prefect UI and get the long-run alerts, not every tenant's failure mails."""

SCHEMA_CHANGE_ROLES = ("account-manager",)


def _wants_failure_mails(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
    if not user_ids:
        return {}
    rows = session.exec(select(UserPreference).where(col(UserPreference.user_id).in_(user_ids))).all()
    return {row.user_id: row.failure_mails for row in rows}


def org_members(
    session: Session, org_id: uuid.UUID, roles: tuple[str, ...], failure_mail: bool
) -> list[Recipient]:
    """The active members of the org with one of the roles, oldest membership first. With
    `failure_mail`, a member who opted out of failure mails is notified in the app only."""
    rows = session.exec(
        select(User)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(
            Membership.org_id == org_id,
            col(Membership.role_slug).in_(roles),
            col(User.is_active).is_(True),
        )
        .order_by(col(Membership.created_at))
    ).all()
    preferences = _wants_failure_mails(session, [u.id for u in rows]) if failure_mail else {}
    return [Recipient(u.id, u.email, preferences.get(u.id, True)) for u in rows]


def platform_admins(session: Session) -> list[Recipient]:
    """Every active platform admin, each with a mail."""
    rows = session.exec(
        select(User).where(col(User.is_platform_admin).is_(True), col(User.is_active).is_(True))
    ).all()
    return [Recipient(u.id, u.email, True) for u in rows]


def failure_mails_wanted(session: Session, user_id: uuid.UUID) -> bool:
    """The user's failure-mail preference (on unless turned off)."""
    row = session.get(UserPreference, user_id)
    return True if row is None else row.failure_mails
