"""Passwords (argon2 through pwdlib) and the opaque secrets behind tokens and codes."""

from __future__ import annotations

import hashlib
import secrets

from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()
_DUMMY_HASH = _hasher.hash("an unguessable placeholder for unknown users")

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """An argon2 hash of the password."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether the password matches; with no hash, it still spends the same time and fails."""
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


def new_secret() -> str:
    """A new random secret for a token or a one-time code (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The stored form of a token or code: its SHA-256 in hex (secrets are random, so no salt)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
