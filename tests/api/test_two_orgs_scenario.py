"""The issue's acceptance scenario over the HTTP API only: a platform admin made from the command
line's code path creates two orgs, invites one person per role into each, everyone accepts by the
mailed code, a person in both orgs switches between them, and nobody reads across orgs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.invitation_support import mailed_code
from tests.support.accounts import ROLE_SLUGS, Api, unique_email, unique_slug
from tests.support.mail import Mailbox


def test_two_orgs_with_every_role_and_no_reading_across(client: TestClient, api: Api, mails: Mailbox) -> None:
    admin = api.make_user(unique_email("platform"), platform_admin=True)
    admin_headers = api.login(admin.email)
    orgs = [unique_slug("north"), unique_slug("south")]
    for slug in orgs:
        made = client.post("/api/v1/orgs", json={"name": slug.title(), "slug": slug}, headers=admin_headers)
        assert made.status_code == 201

    people: dict[tuple[str, str], dict[str, str]] = {}
    for slug in orgs:
        for role in ROLE_SLUGS:
            email = unique_email(role)
            invited = client.post(
                f"/api/v1/orgs/{slug}/invitations", json={"email": email, "role": role}, headers=admin_headers
            )
            assert invited.status_code == 201, invited.text
            accepted = client.post(
                "/api/v1/invitations/accept",
                json={"code": mailed_code(mails, email), "password": "pw of " + role},
            )
            assert accepted.json() == {"org": slug, "role": role}
            people[(slug, role)] = api.login(email, "pw of " + role)

    both = unique_email("both")
    for slug, role in zip(orgs, ("guest", "analyst"), strict=True):
        client.post(
            f"/api/v1/orgs/{slug}/invitations", json={"email": both, "role": role}, headers=admin_headers
        )
        assert client.post(
            "/api/v1/invitations/accept", json={"code": mailed_code(mails, both), "password": "both orgs pw"}
        ).json() == {"org": slug, "role": role}
    both_headers = api.login(both, "both orgs pw")
    memberships = client.get("/api/v1/me", headers=both_headers).json()["memberships"]
    assert {m["org"]: m["role"] for m in memberships} == {orgs[0]: "guest", orgs[1]: "analyst"}
    assert client.get(f"/api/v1/orgs/{orgs[0]}/invitations", headers=both_headers).status_code == 403
    assert client.get(f"/api/v1/orgs/{orgs[1]}/invitations", headers=both_headers).status_code == 200

    for (slug, role), headers in people.items():
        other = orgs[1] if slug == orgs[0] else orgs[0]
        assert client.get(f"/api/v1/orgs/{slug}", headers=headers).json()["role"] == role
        assert [o["slug"] for o in client.get("/api/v1/orgs", headers=headers).json()] == [slug]
        for path in ("", "/members", "/invitations"):
            assert client.get(f"/api/v1/orgs/{other}{path}", headers=headers).status_code == 404
        members = client.get(f"/api/v1/orgs/{slug}/members", headers=headers).json()
        assert members["count"] == 7
