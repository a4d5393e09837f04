"""Invitations end to end: the mail goes through a real SMTP server and its code is accepted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dalgo.api.security import digest
from dalgo.db.columns import utcnow
from dalgo.db.models import Invitation
from tests.api.invitation_support import invite, mailed_code
from tests.secrets_registry import register_secret
from tests.support.accounts import PASSWORD, Api, OrgWithRoles, unique_email
from tests.support.mail import Mailbox

OWN_PASSWORD = register_secret("my own password")


def test_a_new_person_accepts_with_a_password(
    client: TestClient,
    api: Api,
    mails: Mailbox,
    make_org_with_roles: Callable[[], OrgWithRoles],
    engine: object,
) -> None:
    org = make_org_with_roles()
    email = unique_email("new")
    made = invite(client, org.slug, org.headers["account-manager"], email.upper(), "pipeline-manager")
    assert made["email"] == email and made["role"] == "pipeline-manager"
    assert set(made) >= {"id", "email", "role", "expires_at"}

    mail = mails.last_to(email)
    assert org.slug.replace("org-", "") in mail["Subject"]
    assert "https://dalgo.example.org/invitations/accept?code=" in mail.get_content()
    code = mailed_code(mails, email)
    with Session(engine) as session:  # type: ignore[arg-type]
        stored = session.exec(select(Invitation).where(Invitation.email == email)).one()
    assert stored.code_hash == digest(code)
    assert timedelta(days=6, hours=23) < stored.expires_at - utcnow() <= timedelta(days=7)

    no_password = client.post("/api/v1/invitations/accept", json={"code": code})
    assert no_password.status_code == 400
    assert "choose a password" in no_password.json()["detail"]

    accepted = client.post("/api/v1/invitations/accept", json={"code": code, "password": OWN_PASSWORD})
    assert accepted.status_code == 200
    assert accepted.json() == {"org": org.slug, "role": "pipeline-manager"}
    headers = api.login(email, OWN_PASSWORD)
    assert client.get(f"/api/v1/orgs/{org.slug}", headers=headers).json()["role"] == "pipeline-manager"

    used = client.post("/api/v1/invitations/accept", json={"code": code, "password": "another password"})
    assert used.status_code == 400
    assert "already used or expired" in used.json()["detail"]


def test_an_existing_user_joins_without_a_new_password(
    client: TestClient, api: Api, mails: Mailbox, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    user = api.make_user()
    invite(client, org.slug, org.headers["super-admin"], user.email, "analyst")
    assert "existing account" in mails.last_to(user.email).get_content()
    accepted = client.post(
        "/api/v1/invitations/accept",
        json={"code": mailed_code(mails, user.email), "password": "ignored password"},
    )
    assert accepted.status_code == 200
    headers = api.login(user.email, PASSWORD)
    assert [o["slug"] for o in client.get("/api/v1/orgs", headers=headers).json()] == [org.slug]


def test_expired_and_unknown_codes_give_400(
    client: TestClient, mails: Mailbox, make_org_with_roles: Callable[[], OrgWithRoles], engine: object
) -> None:
    org = make_org_with_roles()
    email = unique_email()
    invite(client, org.slug, org.headers["super-admin"], email, "guest")
    code = mailed_code(mails, email)
    with Session(engine) as session:  # type: ignore[arg-type]
        stored = session.exec(select(Invitation).where(Invitation.code_hash == digest(code))).one()
        stored.expires_at = utcnow() - timedelta(seconds=1)
        session.add(stored)
        session.commit()
    expired = client.post("/api/v1/invitations/accept", json={"code": code, "password": "long enough"})
    unknown = client.post(
        "/api/v1/invitations/accept", json={"code": "no-such-code", "password": "long enough"}
    )
    assert expired.status_code == unknown.status_code == 400
    assert expired.json() == unknown.json()


def test_inviting_above_ones_own_role_is_forbidden(
    client: TestClient, mails: Mailbox, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    email = unique_email()
    response = client.post(
        f"/api/v1/orgs/{org.slug}/invitations",
        json={"email": email, "role": "super-admin"},
        headers=org.headers["account-manager"],
    )
    assert response.status_code == 403
    assert "at or below your own" in response.json()["detail"]
    assert mails.to(email) == []
    invite(client, org.slug, org.headers["account-manager"], email, "account-manager")


def test_bad_invitation_input_is_explained(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    headers = org.headers["super-admin"]
    url = f"/api/v1/orgs/{org.slug}/invitations"
    assert (
        client.post(url, json={"email": "not-an-email", "role": "guest"}, headers=headers).status_code == 422
    )
    unknown_role = client.post(url, json={"email": unique_email(), "role": "owner"}, headers=headers)
    assert unknown_role.status_code == 422 and "no role 'owner'" in unknown_role.json()["detail"]
    member = client.post(url, json={"email": org.users["guest"].email, "role": "guest"}, headers=headers)
    assert member.status_code == 409 and "already a member" in member.json()["detail"]


def test_listing_reinviting_and_withdrawing(
    client: TestClient, mails: Mailbox, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    boss = org.headers["super-admin"]
    email = unique_email()
    first = invite(client, org.slug, boss, email, "guest")
    first_code = mailed_code(mails, email)
    second = invite(client, org.slug, boss, email, "analyst")
    listed = client.get(f"/api/v1/orgs/{org.slug}/invitations", headers=org.headers["analyst"]).json()
    assert listed["count"] == 1
    assert listed["data"][0]["id"] == second["id"] != first["id"]
    assert listed["data"][0]["invited_by"] == org.users["super-admin"].email
    stale = client.post("/api/v1/invitations/accept", json={"code": first_code, "password": "long enough"})
    assert stale.status_code == 400

    code = mailed_code(mails, email)
    assert (
        client.delete(f"/api/v1/orgs/{org.slug}/invitations/{second['id']}", headers=boss).status_code == 204
    )
    assert client.get(f"/api/v1/orgs/{org.slug}/invitations", headers=boss).json()["count"] == 0
    withdrawn = client.post("/api/v1/invitations/accept", json={"code": code, "password": "long enough"})
    assert withdrawn.status_code == 400


def test_another_orgs_invitation_cannot_be_withdrawn(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org_a, org_b = make_org_with_roles(), make_org_with_roles()
    theirs = invite(client, org_b.slug, org_b.headers["super-admin"], unique_email(), "guest")
    response = client.delete(
        f"/api/v1/orgs/{org_a.slug}/invitations/{theirs['id']}", headers=org_a.headers["super-admin"]
    )
    assert response.status_code == 404
    assert (
        client.get(f"/api/v1/orgs/{org_b.slug}/invitations", headers=org_b.headers["super-admin"]).json()[
            "count"
        ]
        == 1
    )
