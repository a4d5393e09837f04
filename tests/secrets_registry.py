"""The suite's known secrets: the passwords, tokens and keys that tests hand the platform.

Tests import the constants here instead of writing their own literals, and register the secrets
they make while running (`new_secret`, `register_secret`, `register_private_key`). At the end of
the session tests/secret_scan.py looks for every one of them in the answers, mails, Prefect logs,
flow-run parameters and audit entries the suite produced.
"""

from __future__ import annotations

import threading
import uuid

MIN_LENGTH = 8
"""Shorter values would match ordinary text by chance; a test secret is at least this long."""

_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> str:
    """Adds a secret to the session's registry; the value itself, so a test can write
    `password = register_secret(...)`."""
    if len(value) < MIN_LENGTH:
        raise ValueError(f"a registered secret must have at least {MIN_LENGTH} characters, not {len(value)}")
    with _lock:
        _known.add(value)
    return value


def new_secret(prefix: str) -> str:
    """A fresh random secret (e.g. a warehouse password), registered."""
    return register_secret(f"{prefix}-{uuid.uuid4().hex}")


def register_private_key(pem: str) -> str:
    """Registers a PEM private key: each line of its body, since any one of them is a leak
    (a key in a JSON answer has its line breaks escaped, so the whole PEM would not match)."""
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    if not body:
        raise ValueError("not a PEM key: it has no body lines")
    for line in body:
        if len(line) >= MIN_LENGTH:
            register_secret(line)
    return pem


def known_secrets() -> frozenset[str]:
    """Every secret registered so far in this session."""
    with _lock:
        return frozenset(_known)


USER_PASSWORD = register_secret("correct horse battery")
"""The password of the users the fixtures make."""

GIT_TOKEN = register_secret("ghp_fakeTokenThatMustNeverShow1234567890")
"""A git token in the shape of a GitHub personal access token."""

AIRBYTE_CLIENT_SECRET = register_secret("stub-secret-value")
"""The client secret of the stub Airbyte server's application."""

AIRBYTE_ACCESS_TOKEN = new_secret("stub-token")
"""The access token the stub Airbyte server hands out for that secret."""

TENANT_WAREHOUSE_PASSWORD = register_secret("the-orgs-own-warehouse-password")
"""A warehouse password a tenant's dbt run is given in its environment."""
