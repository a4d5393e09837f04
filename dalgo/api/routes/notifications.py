"""The caller's in-app notifications and mail preferences (`/me/...`; each user sees only theirs)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import ColumnElement, and_, exists, func, or_
from sqlmodel import col, select

from dalgo.alerts.recipients import failure_mails_wanted
from dalgo.api.deps import CurrentUser, PageParams, SessionDep
from dalgo.api.schemas.common import Page
from dalgo.api.schemas.notifications import NotificationPublic, PreferencesPublic, PreferencesUpdate
from dalgo.db.columns import utcnow
from dalgo.db.models import Membership, Org, User
from dalgo.db.notification_models import MAIL_SENT, PLATFORM_KINDS, Notification, UserPreference

router = APIRouter(prefix="/me", tags=["me"])


def _visible(user: User) -> list[ColumnElement[bool]]:
    """The user's own notifications: about no org, an org they still belong to, or the platform."""
    member = exists().where(
        and_(col(Membership.org_id) == col(Notification.org_id), col(Membership.user_id) == user.id)
    )
    return [
        col(Notification.user_id) == user.id,
        or_(col(Notification.org_id).is_(None), member, col(Notification.kind).in_(PLATFORM_KINDS)),
    ]


def _public(notification: Notification, org: str | None) -> NotificationPublic:
    return NotificationPublic(
        id=notification.id,
        kind=notification.kind,
        org=org,
        subject=notification.subject,
        body=notification.body,
        link=notification.link,
        flow_run_id=notification.flow_run_id,
        created_at=notification.created_at,
        read_at=notification.read_at,
        mailed=notification.mail_status == MAIL_SENT,
    )


@router.get("/notifications", response_model=Page[NotificationPublic])
def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    page: PageParams,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read only.")] = None,
) -> Page[NotificationPublic]:
    """The caller's notifications, newest first."""
    where = _visible(user)
    if unread is not None:
        read = col(Notification.read_at)
        where.append(read.is_(None) if unread else read.is_not(None))
    total = session.exec(select(func.count()).select_from(Notification).where(*where)).one()
    rows = session.exec(
        select(Notification, Org.slug)
        .outerjoin(Org, col(Org.id) == col(Notification.org_id))
        .where(*where)
        .order_by(col(Notification.created_at).desc(), col(Notification.id))
        .offset(page.offset)
        .limit(page.limit)
    ).all()
    return Page(data=[_public(n, slug) for n, slug in rows], count=total)


@router.post("/notifications/{notification_id}/read", response_model=NotificationPublic)
def mark_read(notification_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> NotificationPublic:
    """Mark one of the caller's notifications read (again is harmless); 404 for anyone else's."""
    row = session.exec(
        select(Notification, Org.slug)
        .outerjoin(Org, col(Org.id) == col(Notification.org_id))
        .where(col(Notification.id) == notification_id, *_visible(user))
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no such notification among yours.")
    notification, slug = row
    if notification.read_at is None:
        notification.read_at = utcnow()
        session.add(notification)
        session.commit()
        session.refresh(notification)
    return _public(notification, slug)


@router.get("/preferences", response_model=PreferencesPublic)
def read_preferences(user: CurrentUser, session: SessionDep) -> PreferencesPublic:
    """The caller's mail preferences."""
    return PreferencesPublic(failure_mails=failure_mails_wanted(session, user.id))


@router.put("/preferences", response_model=PreferencesPublic)
def update_preferences(body: PreferencesUpdate, user: CurrentUser, session: SessionDep) -> PreferencesPublic:
    """Turn failure mails on or off for the caller (in-app notifications always stay)."""
    preference = session.get(UserPreference, user.id) or UserPreference(user_id=user.id)
    preference.failure_mails = body.failure_mails
    preference.updated_at = utcnow()
    session.add(preference)
    session.commit()
    return PreferencesPublic(failure_mails=preference.failure_mails)
