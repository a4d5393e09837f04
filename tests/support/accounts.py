"""Users, orgs and members made through the API database and the test client: the password every
test user has, unique emails and slugs, and the org with one signed-in member per role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dalgo.api.services.accounts import create_user
from dalgo.db.models import Membership, Org, User
from dalgo.db.roles import role_matrix
from tests.secrets_registry import USER_PASSWORD

PASSWORD = USER_PASSWORD
ROLE_SLUGS = tuple(role.slug for role in role_matrix().roles)
"""Every role of dalgo/db/roles.toml, lowest level first."""


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.org"


def unique_slug(prefix: str = "org") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Api:
    """Small helpers over the test client for making users, orgs and members."""

    client: TestClient
    engine: object

    def make_user(self, email: str | None = None, *, platform_admin: bool = False) -> User:
        with Session(self.engine) as session:  # type: ignore[arg-type]
            user = create_user(session, email or unique_email(), PASSWORD, is_platform_admin=platform_admin)
            session.commit()
            session.refresh(user)
            return user

    def login(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        response = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def make_org(self, admin_headers: dict[str, str], slug: str | None = None) -> str:
        slug = slug or unique_slug()
        response = self.client.post(
            "/api/v1/orgs", json={"name": f"Org {slug}", "slug": slug}, headers=admin_headers
        )
        assert response.status_code == 201, response.text
        return slug

    def add_member(self, org_slug: str, user: User, role: str) -> None:
        """Adds a membership directly (the invitation path has tests of its own)."""
        with Session(self.engine) as session:  # type: ignore[arg-type]
            org = session.exec(select(Org).where(Org.slug == org_slug)).one()
            session.add(Membership(user_id=user.id, org_id=org.id, role_slug=role))
            session.commit()


@dataclass
class OrgWithRoles:
    """An org with one signed-in member per role: their headers and users, by role slug."""

    slug: str
    headers: dict[str, dict[str, str]]
    users: dict[str, User]


def roles_except(*excluded: str) -> list[str]:
    """Every role of roles.toml but these, lowest level first."""
    unknown = set(excluded) - set(ROLE_SLUGS)
    assert not unknown, f"no such roles in roles.toml: {sorted(unknown)}"
    return [role for role in ROLE_SLUGS if role not in excluded]


def roles_with(permission: str) -> list[str]:
    """The roles that roles.toml grants the permission, lowest level first."""
    assert permission in role_matrix().permissions, f"no permission {permission} in roles.toml"
    return [role.slug for role in role_matrix().roles if permission in role.permissions]


def roles_without(permission: str) -> list[str]:
    """The roles that roles.toml does not grant the permission, lowest level first."""
    return roles_except(*roles_with(permission))
