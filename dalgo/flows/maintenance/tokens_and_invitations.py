"""Expire what only lives for a while: invitations, password-reset codes, login tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger
from sqlalchemy import Engine, delete, or_
from sqlmodel import Session, col

from dalgo.db.columns import utcnow
from dalgo.db.models import ApiToken, Invitation, PasswordResetCode
from dalgo.flows.maintenance._common import api_database, plural
from dalgo.flows.results import record_result
from dalgo.settings import get_settings


def expire(engine: Engine, keep_expired_invitations: timedelta) -> dict[str, int]:
    """Delete invitations expired (unaccepted) for longer than `keep_expired_invitations`, every
    used or expired password-reset code, and every expired or revoked login token."""
    now = utcnow()
    with Session(engine) as session:
        invitations = session.exec(
            delete(Invitation).where(
                col(Invitation.accepted_at).is_(None),
                col(Invitation.expires_at) < now - keep_expired_invitations,
            )
        ).rowcount
        codes = session.exec(
            delete(PasswordResetCode).where(
                or_(col(PasswordResetCode.used_at).is_not(None), col(PasswordResetCode.expires_at) <= now)
            )
        ).rowcount
        tokens = session.exec(
            delete(ApiToken).where(
                or_(col(ApiToken.revoked_at).is_not(None), col(ApiToken.expires_at) <= now)
            )
        ).rowcount
        session.commit()
    return {"invitations": int(invitations), "password_reset_codes": int(codes), "api_tokens": int(tokens)}


@flow(name="expire-tokens-and-invitations")
async def expire_tokens_and_invitations() -> dict[str, Any]:
    """Remove expired invitations (kept DALGO_EXPIRED_INVITATION_KEEP_DAYS after they expire, so
    they can be renewed), used or expired password-reset codes and expired or revoked login tokens."""
    settings = get_settings()
    with api_database(settings) as engine:
        removed = expire(engine, timedelta(days=settings.expired_invitation_keep_days))
    get_run_logger().info(
        "Expired %s and %s; purged %s",
        plural(removed["invitations"], "invitation"),
        plural(removed["password_reset_codes"], "password-reset code"),
        plural(removed["api_tokens"], "API token"),
    )
    await record_result(removed)
    return removed
