"""The app's route table, read the way the access tests need it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from dalgo.api import deps
from dalgo.api.main import API_PREFIX, create_app
from dalgo.settings import Settings

ORG_SCOPED_PREFIX = f"{API_PREFIX}/orgs/{{org}}"


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    permissions: frozenset[str]
    authenticated: bool
    platform_admin: bool

    @property
    def destroys_the_org(self) -> bool:
        """Calling it as an allowed role deletes the org, so tests give it an org of its own."""
        return self.method == "DELETE" and self.path == ORG_SCOPED_PREFIX

    @property
    def org_scoped(self) -> bool:
        return self.path == ORG_SCOPED_PREFIX or self.path.startswith(ORG_SCOPED_PREFIX + "/")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, org: str) -> str:
        """The path with `{org}` filled in and any other parameter given a random id."""
        path = self.path.replace("{org}", org)
        return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def api_routes() -> list[RouteInfo]:
    """Every API route with the access it declares through its dependencies."""
    app = create_app(Settings(database_url="sqlite://"))
    found: list[RouteInfo] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or ""
        if not isinstance(route, APIRoute) or not path.startswith(API_PREFIX):
            continue
        calls = list(_calls(route.dependant))
        permissions = frozenset(c.permission for c in calls if isinstance(c, deps.RequirePermission))
        for method in sorted(route.methods or ()):
            found.append(
                RouteInfo(
                    method=method,
                    path=path,
                    permissions=permissions,
                    authenticated=deps.current_caller in calls,
                    platform_admin=deps.platform_admin in calls,
                )
            )
    return found


ROUTES = api_routes()
ORG_ROUTES = [r for r in ROUTES if r.org_scoped]
