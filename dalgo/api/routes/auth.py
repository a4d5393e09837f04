"""Sign in and out, and reset a forgotten password."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status
from sqlmodel import col, select

from dalgo.api.deps import CurrentCaller, MailerDep, SessionDep, SettingsDep
from dalgo.api.ratelimit import ClientAddress, SignInLimiterDep
from dalgo.api.schemas import LoginRequest, PasswordResetConfirm, PasswordResetRequest, TokenPublic
from dalgo.api.security import digest
from dalgo.api.services import accounts
from dalgo.db.columns import utcnow
from dalgo.db.models import PasswordResetCode, User
from dalgo.mail import MailError

router = APIRouter(prefix="/auth", tags=["auth"])
log = logging.getLogger(__name__)


def limited_login(body: LoginRequest, limiter: SignInLimiterDep, address: ClientAddress) -> LoginRequest:
    """The login body, once the attempt is counted for the address and the email (429 over either)."""
    limiter.hit("login", address, body.email)
    return body


def limited_password_reset(
    body: PasswordResetRequest, limiter: SignInLimiterDep, address: ClientAddress
) -> PasswordResetRequest:
    """The reset request, once counted for the address and the email (429 over either)."""
    limiter.hit("password-reset", address, body.email)
    return body


def limited_password_reset_confirm(
    body: PasswordResetConfirm, session: SessionDep, limiter: SignInLimiterDep, address: ClientAddress
) -> PasswordResetConfirm:
    """The reset confirmation, once counted for the address and, when the code is a known one,
    for the email of its account (429 over either)."""
    email = session.exec(
        select(User.email)
        .join(PasswordResetCode, col(PasswordResetCode.user_id) == col(User.id))
        .where(PasswordResetCode.code_hash == digest(body.code))
    ).first()
    limiter.hit("password-reset-confirm", address, email)
    return body


LimitedLogin = Annotated[LoginRequest, Depends(limited_login)]
LimitedPasswordReset = Annotated[PasswordResetRequest, Depends(limited_password_reset)]
LimitedPasswordResetConfirm = Annotated[PasswordResetConfirm, Depends(limited_password_reset_confirm)]


@router.post("/login", response_model=TokenPublic)
def login(body: LimitedLogin, session: SessionDep, settings: SettingsDep) -> TokenPublic:
    """Exchange an email and password for a bearer token.

    Attempts are limited per client address and per email (429 with Retry-After beyond)."""
    user = accounts.authenticate(session, body.email, body.password)
    if user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="The email or the password is wrong.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    secret, token = accounts.issue_token(session, user, settings)
    session.commit()
    return TokenPublic(access_token=secret, expires_at=token.expires_at)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(caller: CurrentCaller, session: SessionDep) -> Response:
    """Revoke the token of this request at once."""
    token = caller.token
    token.revoked_at = utcnow()
    session.add(token)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password-reset", status_code=status.HTTP_202_ACCEPTED)
def request_password_reset(
    body: LimitedPasswordReset, session: SessionDep, settings: SettingsDep, mailer: MailerDep
) -> dict[str, str]:
    """Mail a one-time reset code when the email is known; the answer is the same either way."""
    try:
        accounts.start_password_reset(session, body.email, settings, mailer)
    except MailError as exc:
        session.rollback()
        log.error("password-reset mail not sent: %s", exc)
    return {"detail": "If this email belongs to an account, a mail with a reset code is on its way."}


@router.post("/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
def confirm_password_reset(body: LimitedPasswordResetConfirm, session: SessionDep) -> Response:
    """Set a new password with the mailed code; every existing token stops working."""
    try:
        accounts.confirm_password_reset(session, body.code, body.new_password)
    except accounts.AccountError as exc:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
