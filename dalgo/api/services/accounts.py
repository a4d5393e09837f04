"""Users, login tokens and password resets."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select, update

from dalgo.api.security import digest, hash_password, new_secret, verify_password
from dalgo.db.columns import utcnow
from dalgo.db.models import ApiToken, PasswordResetCode, User
from dalgo.mail import Mailer
from dalgo.settings import Settings


class AccountError(ValueError):
    """A request about an account that cannot be honoured; the message is for the person."""


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively: they are stored and looked up lower-cased."""
    return email.strip().lower()


def find_user(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def create_user(session: Session, email: str, password: str, *, is_platform_admin: bool = False) -> User:
    """A new user; AccountError when the email is taken. The caller commits."""
    if find_user(session, email) is not None:
        raise AccountError(f"A user with the email {normalize_email(email)} already exists.")
    user = User(
        email=normalize_email(email),
        password_hash=hash_password(password),
        is_platform_admin=is_platform_admin,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user with this email and password, or None: unknown email and wrong password alike."""
    user = find_user(session, email)
    if not verify_password(password, user.password_hash if user else None):
        return None
    if user is None or not user.is_active:
        return None
    return user


def issue_token(session: Session, user: User, settings: Settings) -> tuple[str, ApiToken]:
    """A new opaque login token for the user; only its hash is stored. The caller commits."""
    secret = new_secret()
    token = ApiToken(
        user_id=user.id,
        token_hash=digest(secret),
        expires_at=utcnow() + timedelta(hours=settings.token_ttl_hours),
    )
    session.add(token)
    return secret, token


def revoke_tokens(session: Session, user: User) -> None:
    """Revoke every live token of the user (after a password change)."""
    session.exec(
        update(ApiToken)
        .where(col(ApiToken.user_id) == user.id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def start_password_reset(session: Session, email: str, settings: Settings, mailer: Mailer) -> None:
    """Mail a one-time reset code when the email belongs to a user; say nothing either way."""
    user = find_user(session, email)
    if user is None or not user.is_active:
        return
    code = new_secret()
    expires_at = utcnow() + timedelta(minutes=settings.password_reset_ttl_minutes)
    session.add(PasswordResetCode(user_id=user.id, code_hash=digest(code), expires_at=expires_at))
    link = f"{settings.public_url.rstrip('/')}/reset-password?code={code}"
    minutes = round(settings.password_reset_ttl_minutes)
    mailer.send(
        user.email,
        "Reset your Dalgo password",
        (
            "Someone asked to reset the password of your Dalgo account.\n\n"
            f"Choose a new password here (the link works once, for {minutes} minutes):\n{link}\n\n"
            f"Or give this code to the API: {code}\n\n"
            "If it was not you, ignore this mail: your password stays as it is.\n"
        ),
    )
    session.commit()


def confirm_password_reset(session: Session, code: str, new_password: str) -> None:
    """Set the new password for a valid code, use the code up and sign the user out everywhere."""
    reset = session.exec(select(PasswordResetCode).where(PasswordResetCode.code_hash == digest(code))).first()
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise AccountError("This password-reset code is unknown, already used or expired: ask for a new one.")
    user = session.get(User, reset.user_id)
    if user is None or not user.is_active:
        raise AccountError("This password-reset code is unknown, already used or expired: ask for a new one.")
    reset.used_at = utcnow()
    user.password_hash = hash_password(new_password)
    session.add(reset)
    session.add(user)
    revoke_tokens(session, user)
    session.commit()
