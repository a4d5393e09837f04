"""Sign in and out, and reset a forgotten password."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Response, status

from dalgo.api.deps import CurrentCaller, MailerDep, SessionDep, SettingsDep
from dalgo.api.schemas import LoginRequest, PasswordResetConfirm, PasswordResetRequest, TokenPublic
from dalgo.api.services import accounts
from dalgo.db.columns import utcnow
from dalgo.mail import MailError

router = APIRouter(prefix="/auth", tags=["auth"])
log = logging.getLogger(__name__)


@router.post("/login", response_model=TokenPublic)
def login(body: LoginRequest, session: SessionDep, settings: SettingsDep) -> TokenPublic:
    """Exchange an email and password for a bearer token."""
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
    body: PasswordResetRequest, session: SessionDep, settings: SettingsDep, mailer: MailerDep
) -> dict[str, str]:
    """Mail a one-time reset code when the email is known; the answer is the same either way."""
    try:
        accounts.start_password_reset(session, body.email, settings, mailer)
    except MailError as exc:
        session.rollback()
        log.error("password-reset mail not sent: %s", exc)
    return {"detail": "If this email belongs to an account, a mail with a reset code is on its way."}


@router.post("/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
def confirm_password_reset(body: PasswordResetConfirm, session: SessionDep) -> Response:
    """Set a new password with the mailed code; every existing token stops working."""
    try:
        accounts.confirm_password_reset(session, body.code, body.new_password)
    except accounts.AccountError as exc:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
