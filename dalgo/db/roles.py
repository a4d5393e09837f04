"""Reads the role matrix from `roles.toml` and resolves each role's cumulative permissions."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROLES_FILE = Path(__file__).with_name("roles.toml")


@dataclass(frozen=True)
class RoleSpec:
    """One role as the data file defines it, with every permission it holds."""

    slug: str
    name: str
    level: int
    permissions: frozenset[str]


@dataclass(frozen=True)
class RoleMatrix:
    """All permissions (slug -> description) and all roles, ordered by level."""

    permissions: dict[str, str]
    roles: tuple[RoleSpec, ...]

    def role(self, slug: str) -> RoleSpec:
        """The role with this slug; KeyError when there is none."""
        for role in self.roles:
            if role.slug == slug:
                return role
        raise KeyError(slug)


def parse_role_matrix(text: str) -> RoleMatrix:
    """Parse the TOML role matrix, adding to each role the permissions of lower levels."""
    data = tomllib.loads(text)
    permissions: dict[str, str] = dict(data["permissions"])
    raw_roles = sorted(data["roles"], key=lambda r: r["level"])
    roles: list[RoleSpec] = []
    inherited: set[str] = set()
    for raw in raw_roles:
        unknown = set(raw["permissions"]) - permissions.keys()
        if unknown:
            raise ValueError(f"role {raw['slug']} names unknown permissions: {sorted(unknown)}")
        inherited |= set(raw["permissions"])
        roles.append(RoleSpec(raw["slug"], raw["name"], raw["level"], frozenset(inherited)))
    return RoleMatrix(permissions=permissions, roles=tuple(roles))


@lru_cache
def role_matrix() -> RoleMatrix:
    """The platform's role matrix, read once from `roles.toml`."""
    return parse_role_matrix(ROLES_FILE.read_text(encoding="utf-8"))
