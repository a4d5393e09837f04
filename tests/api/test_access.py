"""Access control over the whole route table: declared permissions, role x route, cross-tenant."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from dalgo.api.main import PUBLIC_ROUTES
from dalgo.db.roles import role_matrix
from tests.api.routes import ORG_ROUTES, ROUTES, RouteInfo
from tests.support.accounts import ROLE_SLUGS, OrgWithRoles, unique_slug


def test_the_route_table_is_not_empty() -> None:
    assert len(ORG_ROUTES) >= 7
    assert len(ROUTES) > len(ORG_ROUTES)


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_every_route_is_public_or_declares_its_access(route: RouteInfo) -> None:
    """A route is on the public list, or needs a signed-in caller; org routes name one permission."""
    if (route.method, route.path) in PUBLIC_ROUTES:
        assert not route.authenticated, f"{route} is listed public but asks for a token"
        return
    assert route.authenticated, f"{route} is neither public nor asks who the caller is"
    if route.org_scoped:
        assert len(route.permissions) == 1, f"{route} must declare exactly one permission with require()"
    else:
        assert not route.permissions


def test_public_list_names_only_real_routes() -> None:
    real = {(r.method, r.path) for r in ROUTES}
    assert real >= PUBLIC_ROUTES


def test_creating_orgs_is_for_platform_admins() -> None:
    (create,) = [r for r in ROUTES if r.method == "POST" and r.path == "/api/v1/orgs"]
    assert create.platform_admin


@pytest.fixture(scope="module")
def org_with_roles(make_org_with_roles: Callable[[], OrgWithRoles]) -> OrgWithRoles:
    return make_org_with_roles()


ROLE_CASES = [(route, role) for route in ORG_ROUTES for role in ROLE_SLUGS]


@pytest.mark.parametrize(("route", "role"), ROLE_CASES, ids=[f"{r}-as-{role}" for r, role in ROLE_CASES])
def test_role_gets_exactly_what_the_permission_data_says(
    client: TestClient,
    org_with_roles: OrgWithRoles,
    make_org_with_roles: Callable[[], OrgWithRoles],
    route: RouteInfo,
    role: str,
) -> None:
    """Each role is let through or answered 403, exactly as roles.toml grants the route's permission.

    Requests carry random ids and an empty body, so a permitted request ends in 404 or 422 at
    worst and changes nothing; what matters is that it is not refused for lack of permission.
    """
    (permission,) = route.permissions
    allowed = permission in role_matrix().role(role).permissions
    org = make_org_with_roles() if route.destroys_the_org else org_with_roles
    response = client.request(
        route.method,
        route.url(org.slug),
        headers=org.headers[role],
        json={} if route.method in ("POST", "PUT", "PATCH") else None,
    )
    if allowed:
        assert response.status_code not in (401, 403), f"{role} refused on {route}: {response.text}"
        assert "no organization" not in response.text
    else:
        assert response.status_code == 403, f"{role} let through on {route}: {response.status_code}"
        assert permission in response.json()["detail"]


@pytest.fixture(scope="module")
def two_orgs(make_org_with_roles: Callable[[], OrgWithRoles]) -> tuple[OrgWithRoles, OrgWithRoles]:
    return make_org_with_roles(), make_org_with_roles()


@pytest.mark.parametrize("route", ORG_ROUTES, ids=str)
def test_another_orgs_routes_answer_404_like_a_missing_org(
    client: TestClient, two_orgs: tuple[OrgWithRoles, OrgWithRoles], route: RouteInfo
) -> None:
    """The super-admin of org A gets on org B exactly what a missing org answers: 404."""
    org_a, org_b = two_orgs
    headers = org_a.headers["super-admin"]
    body: dict[str, str] | None = {} if route.method in ("POST", "PUT", "PATCH") else None
    missing = unique_slug("missing")
    other = client.request(route.method, route.url(org_b.slug), headers=headers, json=body)
    absent = client.request(route.method, route.url(missing), headers=headers, json=body)
    assert other.status_code == absent.status_code == 404
    assert other.json()["detail"].replace(org_b.slug, "X") == absent.json()["detail"].replace(missing, "X")
    if route.destroys_the_org:
        return
    own = client.request(route.method, route.url(org_a.slug), headers=headers, json=body)
    assert own.status_code != 403 and "no organization" not in own.text


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r not in ORG_ROUTES and (r.method, r.path) not in PUBLIC_ROUTES], ids=str
)
def test_non_public_routes_refuse_callers_without_a_token(client: TestClient, route: RouteInfo) -> None:
    response = client.request(route.method, route.url("x"), json={} if route.method != "GET" else None)
    assert response.status_code == 401
    assert response.json()["detail"].endswith(".")


@pytest.mark.parametrize("route", ORG_ROUTES, ids=str)
def test_org_routes_refuse_callers_without_a_token(client: TestClient, route: RouteInfo) -> None:
    response = client.request(route.method, route.url("anything"))
    assert response.status_code == 401
