"""An org's audit log: who changed what in the org, when, and with what outcome (account managers
and above). Entries are written by `dalgo.api.audit`; retention removes them with the org's runs."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime
from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import col, select

from dalgo.api.audit import SIGN_IN_FAILED
from dalgo.api.deps import OrgContext, PageParams, SessionDep, require
from dalgo.api.schemas.audit_log import AuditEntryPublic
from dalgo.api.schemas.common import Page
from dalgo.api.services.accounts import normalize_email
from dalgo.db.models import AuditEntry, Membership

router = APIRouter(prefix="/orgs/{org}/audit-log", tags=["audit log"])


def _public(entry: AuditEntry) -> AuditEntryPublic:
    details = json.loads(entry.details) if entry.details else {}
    return AuditEntryPublic(**entry.model_dump(exclude={"details", "org_id", "org_slug"}), details=details)


@router.get("", response_model=Page[AuditEntryPublic])
def read_audit_log(
    member: Annotated[OrgContext, require("can_view_audit_log")],
    session: SessionDep,
    page: PageParams,
    actor: Annotated[str | None, Query(max_length=320, description="The actor's email or user id.")] = None,
    action: Annotated[
        str | None, Query(max_length=100, description="e.g. run_pipeline, sign_in_failed.")
    ] = None,
    object_type: Annotated[str | None, Query(max_length=50, description="e.g. pipeline, connection.")] = None,
    object_id: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[AwareDatetime | None, Query(description="Entries at or after this time.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Entries before this time.")] = None,
) -> Page[AuditEntryPublic]:
    """The org's audit entries, newest first, with the failed sign-ins of its current members."""
    if any("\x00" in text for text in (actor, action, object_type, object_id) if text):
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail="A filter may not hold a NUL character."
        )
    if since is not None and until is not None and since >= until:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail="`since` must come before `until`."
        )
    members = select(Membership.user_id).where(Membership.org_id == member.org.id)
    conditions: list[ColumnElement[bool]] = [
        or_(
            col(AuditEntry.org_id) == member.org.id,
            and_(
                col(AuditEntry.org_id).is_(None),
                col(AuditEntry.action) == SIGN_IN_FAILED,
                col(AuditEntry.actor_id).in_(members),
            ),
        )
    ]
    if actor is not None:
        conditions.append(_actor_condition(actor))
    if action is not None:
        conditions.append(col(AuditEntry.action) == action)
    if object_type is not None:
        conditions.append(col(AuditEntry.object_type) == object_type)
    if object_id is not None:
        conditions.append(col(AuditEntry.object_id) == object_id)
    if since is not None:
        conditions.append(col(AuditEntry.created_at) >= since)
    if until is not None:
        conditions.append(col(AuditEntry.created_at) < until)
    total = session.exec(select(func.count()).select_from(AuditEntry).where(*conditions)).one()
    rows = session.exec(
        select(AuditEntry)
        .where(*conditions)
        .order_by(col(AuditEntry.created_at).desc(), col(AuditEntry.id).desc())
        .offset(page.offset)
        .limit(page.limit)
    ).all()
    return Page(data=[_public(row) for row in rows], count=total)


def _actor_condition(actor: str) -> ColumnElement[bool]:
    """An actor given by user id or by email."""
    try:
        return col(AuditEntry.actor_id) == uuid.UUID(actor)
    except ValueError:
        return col(AuditEntry.actor_email) == normalize_email(actor)
