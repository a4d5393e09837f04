"""Sign in and out, and reset a forgotten password."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlmodel import Session, col, select

from dalgo.api.audit import PASSWORD_RESET, SIGN_IN_FAILED, record_event
from dalgo.api.deps import CurrentCaller, MailerDep, SessionDep, SettingsDep
from dalgo.api.ratelimit import ClientAddress, SignInLimiterDep
from dalgo.api.schemas.auth import LoginRequest, PasswordResetConfirm, PasswordResetRequest, TokenPublic
from dalgo.api.security import digest
from dalgo.api.services import accounts
from dalgo.db.columns import utcnow
from dalgo.db.models import PasswordResetCode, User
from dalgo.mail import MailError

router = APIRouter(prefix="/auth", tags=["auth"])
log = logging.getLogger(__name__)


def limited_login(
    body: LoginRequest,
    limiter: SignInLimiterDep,
    address: ClientAddress,
    session: SessionDep,
    request: Request,
) -> LoginRequest:
    """The login body, once the attempt is counted for the address and the email (429 over either;
    a refused attempt is recorded in the audit log)."""
    try:
        limiter.hit("login", address, body.email)
    except HTTPException as exc:
        _record_sign_in_failure(session, request, body.email, exc.status_code, "too many attempts")
        raise
    return body


def _record_sign_in_failure(
    session: Session, request: Request, email: str, status_code: int, reason: str
) -> None:
    """An audit entry for a failed sign-in: the email tried, the reason, the address; never the password."""
    user = accounts.find_user(session, email)
    record_event(
        session,
        action=SIGN_IN_FAILED,
        status_code=status_code,
        request=request,
        user=user,
        email=accounts.normalize_email(email),
        reason=reason,
    )


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
def login(body: LimitedLogin, session: SessionDep, settings: SettingsDep, request: Request) -> TokenPublic:
    """Exchange an email and password for a bearer token.

    Attempts are limited per client address and per email (429 with Retry-After beyond). A failed
    attempt is recorded in the audit log (the email tried, why, and from where)."""
    user = accounts.authenticate(session, body.email, body.password)
    if user is None:
        known = accounts.find_user(session, body.email)
        reason = (
            "unknown email" if known is None else "wrong password" if known.is_active else "account disabled"
        )
        _record_sign_in_failure(session, request, body.email, status.HTTP_401_UNAUTHORIZED, reason)
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
def confirm_password_reset(
    body: LimitedPasswordResetConfirm, session: SessionDep, request: Request
) -> Response:
    """Set a new password with the mailed code; every existing token stops working (recorded in
    the audit log under the account's email)."""
    user = session.exec(
        select(User)
        .join(PasswordResetCode, col(PasswordResetCode.user_id) == col(User.id))
        .where(PasswordResetCode.code_hash == digest(body.code))
    ).first()
    try:
        accounts.confirm_password_reset(session, body.code, body.new_password)
    except accounts.AccountError as exc:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    if user is not None:
        record_event(
            session, action=PASSWORD_RESET, status_code=status.HTTP_204_NO_CONTENT, request=request, user=user
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
