"""Orgs and members: creating orgs, switching between them, roles and their limits."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from dalgo.db.roles import role_matrix
from tests.support.accounts import Api, OrgWithRoles, unique_slug


def test_a_platform_admin_creates_orgs_and_becomes_their_super_admin(
    client: TestClient, platform_admin: dict[str, str]
) -> None:
    slug = unique_slug()
    response = client.post(
        "/api/v1/orgs", json={"name": "Save the Rivers", "slug": slug}, headers=platform_admin
    )
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == slug and body["name"] == "Save the Rivers"
    assert body["created_at"].endswith("Z") or "+00:00" in body["created_at"]
    mine = client.get("/api/v1/orgs", headers=platform_admin).json()
    assert {"slug": slug, "role": "super-admin"}.items() <= next(o for o in mine if o["slug"] == slug).items()
    me = client.get("/api/v1/me", headers=platform_admin).json()
    membership = next(m for m in me["memberships"] if m["org"] == slug)
    assert membership["role"] == "super-admin"
    assert set(membership["permissions"]) == role_matrix().role("super-admin").permissions


def test_a_taken_slug_answers_409(client: TestClient, platform_admin: dict[str, str]) -> None:
    slug = unique_slug()
    assert (
        client.post("/api/v1/orgs", json={"name": "A", "slug": slug}, headers=platform_admin).status_code
        == 201
    )
    again = client.post("/api/v1/orgs", json={"name": "B", "slug": slug}, headers=platform_admin)
    assert again.status_code == 409
    assert slug in again.json()["detail"]


def test_the_slug_is_made_from_the_name_when_left_out(
    client: TestClient, platform_admin: dict[str, str]
) -> None:
    name = f"Clean Water {unique_slug()}  Trust!"
    response = client.post("/api/v1/orgs", json={"name": name}, headers=platform_admin)
    assert response.status_code == 201
    slug = response.json()["slug"]
    assert slug.startswith("clean-water-org-") and slug.endswith("-trust")


def test_bad_slugs_are_refused_with_the_rule(client: TestClient, platform_admin: dict[str, str]) -> None:
    for bad in ("ab", "Has-Capitals", "under_score", "-dash-first", "x" * 41, "two--dashes"):
        response = client.post("/api/v1/orgs", json={"name": "A", "slug": bad}, headers=platform_admin)
        assert response.status_code == 422, bad
        assert "3 to 40 lower-case letters, digits and single dashes" in response.text


def test_only_platform_admins_create_orgs(client: TestClient, api: Api) -> None:
    user = api.make_user()
    response = client.post("/api/v1/orgs", json={"name": "Mine"}, headers=api.login(user.email))
    assert response.status_code == 403
    assert response.json()["detail"] == "Only platform admins may do this."


def test_one_login_switches_between_orgs(
    client: TestClient, api: Api, platform_admin: dict[str, str]
) -> None:
    first, second = api.make_org(platform_admin), api.make_org(platform_admin)
    user = api.make_user()
    api.add_member(first, user, "analyst")
    api.add_member(second, user, "guest")
    headers = api.login(user.email)
    orgs = {o["slug"]: o["role"] for o in client.get("/api/v1/orgs", headers=headers).json()}
    assert orgs == {first: "analyst", second: "guest"}
    assert client.get(f"/api/v1/orgs/{first}/invitations", headers=headers).status_code == 200
    assert client.get(f"/api/v1/orgs/{second}/invitations", headers=headers).status_code == 403


def test_members_are_listed_with_pagination(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    headers = org.headers["guest"]
    everyone = client.get(f"/api/v1/orgs/{org.slug}/members", headers=headers).json()
    assert everyone["count"] == 6
    assert {m["email"] for m in everyone["data"]} >= {u.email for u in org.users.values()}
    page = client.get(f"/api/v1/orgs/{org.slug}/members?limit=2&offset=1", headers=headers).json()
    assert page["count"] == 6
    assert page["data"] == everyone["data"][1:3]
    assert client.get(f"/api/v1/orgs/{org.slug}/members?limit=201", headers=headers).status_code == 422


def test_role_changes_stay_at_or_below_the_callers_level(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    manager = org.headers["account-manager"]
    guest_id = org.users["guest"].id
    url = f"/api/v1/orgs/{org.slug}/members/{guest_id}"

    promoted = client.patch(url, json={"role": "account-manager"}, headers=manager)
    assert promoted.status_code == 200 and promoted.json()["role"] == "account-manager"
    too_high = client.patch(url, json={"role": "super-admin"}, headers=manager)
    assert too_high.status_code == 403
    assert "at or below your own" in too_high.json()["detail"]
    over_a_superior = client.patch(
        f"/api/v1/orgs/{org.slug}/members/{org.users['super-admin'].id}",
        json={"role": "guest"},
        headers=manager,
    )
    assert over_a_superior.status_code == 403
    unknown = client.patch(url, json={"role": "emperor"}, headers=manager)
    assert unknown.status_code == 422 and "guest, analyst" in unknown.json()["detail"]


def test_removing_members_and_keeping_a_super_admin(
    client: TestClient, api: Api, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    boss = org.headers["super-admin"]
    guest = org.users["guest"]
    assert client.delete(f"/api/v1/orgs/{org.slug}/members/{guest.id}", headers=boss).status_code == 204
    assert client.get(f"/api/v1/orgs/{org.slug}", headers=org.headers["guest"]).status_code == 404
    assert client.delete(f"/api/v1/orgs/{org.slug}/members/{guest.id}", headers=boss).status_code == 404

    members = client.get(f"/api/v1/orgs/{org.slug}/members", headers=boss).json()["data"]
    super_admins = [m for m in members if m["role"] == "super-admin"]
    assert len(super_admins) == 2
    first, last = super_admins
    assert (
        client.delete(f"/api/v1/orgs/{org.slug}/members/{first['user_id']}", headers=boss).status_code == 204
    )
    refused = client.patch(
        f"/api/v1/orgs/{org.slug}/members/{last['user_id']}", json={"role": "guest"}, headers=boss
    )
    if last["user_id"] == str(org.users["super-admin"].id):
        assert refused.status_code == 409
        assert "at least one Super admin" in refused.json()["detail"]
    else:
        assert refused.status_code == 404  # the caller removed themself first


def test_a_member_of_another_org_cannot_be_reached_through_ones_own(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org_a, org_b = make_org_with_roles(), make_org_with_roles()
    boss = org_a.headers["super-admin"]
    stranger = org_b.users["guest"].id
    assert (
        client.patch(
            f"/api/v1/orgs/{org_a.slug}/members/{stranger}", json={"role": "guest"}, headers=boss
        ).status_code
        == 404
    )
    assert client.delete(f"/api/v1/orgs/{org_a.slug}/members/{stranger}", headers=boss).status_code == 404
    assert client.get(f"/api/v1/orgs/{org_b.slug}", headers=org_b.headers["guest"]).status_code == 200


def test_roles_are_listed_from_the_data_file(client: TestClient, platform_admin: dict[str, str]) -> None:
    roles = client.get("/api/v1/roles", headers=platform_admin).json()
    assert [r["slug"] for r in roles] == [
        "guest",
        "analyst",
        "pipeline-manager",
        "account-manager",
        "super-admin",
    ]
    assert [r["level"] for r in roles] == [1, 2, 3, 4, 5]
    for role in roles:
        assert set(role["permissions"]) == role_matrix().role(role["slug"]).permissions
