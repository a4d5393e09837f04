"""The audit log through the API: every change is recorded with who, what, which object, when and
the outcome; failed sign-ins with the reason; never a secret; account managers and above read it,
filtered and paginated; another org's entries never show."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dalgo.api.audit import AUDITED_METHODS, SELF_RECORDED_ROUTES
from dalgo.db.models import AuditEntry
from tests.api.connection_support import make_connection
from tests.api.invitation_support import invite, mailed_code
from tests.support.accounts import PASSWORD, Api, OrgWithRoles, roles_with, roles_without, unique_email
from tests.support.mail import Mailbox


def audit_log(
    client: TestClient, org: OrgWithRoles, role: str = "account-manager", **query: Any
) -> dict[str, Any]:
    """One page of the org's audit log, read as `role`."""
    response = client.get(f"/api/v1/orgs/{org.slug}/audit-log", params=query, headers=org.headers[role])
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def entries(client: TestClient, org: OrgWithRoles, **query: Any) -> list[dict[str, Any]]:
    return list(audit_log(client, org, limit=200, **query)["data"])


def test_changes_are_recorded_with_actor_object_outcome_and_changed_fields(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    boss = org.headers["account-manager"]
    invited = invite(client, org.slug, boss, unique_email("invited"), "analyst")
    guest = org.users["guest"]
    promoted = client.patch(
        f"/api/v1/orgs/{org.slug}/members/{guest.id}",
        json={"role": "analyst"},
        headers={**boss, "X-Request-ID": "support-ticket-42"},
    )
    assert promoted.status_code == 200
    assert promoted.headers["x-request-id"] == "support-ticket-42"
    refused = client.patch(
        f"/api/v1/orgs/{org.slug}/members/{org.users['super-admin'].id}",
        json={"role": "guest"},
        headers=org.headers["pipeline-manager"],
    )
    assert refused.status_code == 403
    withdrawn = client.delete(f"/api/v1/orgs/{org.slug}/invitations/{invited['id']}", headers=boss)
    assert withdrawn.status_code == 204

    found = entries(client, org)
    assert [e["action"] for e in found[:4]] == [
        "delete_invitation",
        "change_member_role",
        "change_member_role",
        "create_invitation",
    ]
    delete, denied, change, create = found[:4]
    manager = org.users["account-manager"]
    assert create == {
        **create,
        "actor_id": str(manager.id),
        "actor_email": manager.email,
        "method": "POST",
        "path": f"/api/v1/orgs/{org.slug}/invitations",
        "object_type": "invitation",
        "object_id": invited["id"],
        "status_code": 201,
        "details": {"fields": ["email", "role"]},
    }
    assert change["object_type"] == "member" and change["object_id"] == str(guest.id)
    assert change["request_id"] == "support-ticket-42" and change["status_code"] == 200
    assert change["details"] == {"fields": ["role"]}
    assert denied["actor_email"] == org.users["pipeline-manager"].email and denied["status_code"] == 403
    assert (
        delete["object_id"] == invited["id"] and delete["status_code"] == 204 and delete["method"] == "DELETE"
    )
    times = [datetime.fromisoformat(e["created_at"]) for e in found]
    assert times == sorted(times, reverse=True)
    assert all(e["client_address"] for e in found[:4])


def test_an_accepted_invitation_is_recorded_under_the_new_member(
    client: TestClient, mails: Mailbox, make_org_with_roles: Callable[[], OrgWithRoles], engine: Engine
) -> None:
    org = make_org_with_roles()
    email = unique_email("joiner")
    invited = invite(client, org.slug, org.headers["account-manager"], email, "guest")
    code = mailed_code(mails, email)
    bad = client.post(
        "/api/v1/invitations/accept", json={"code": "not-a-code", "password": "a long password"}
    )
    assert bad.status_code == 400
    accepted = client.post("/api/v1/invitations/accept", json={"code": code, "password": "a long password"})
    assert accepted.status_code == 200, accepted.text

    found = entries(client, org, action="accept_invitation")
    assert len(found) == 1
    assert found[0]["actor_email"] == email and found[0]["actor_id"]
    assert found[0]["object_type"] == "invitation" and found[0]["status_code"] == 200
    assert found[0]["details"] == {"fields": ["code", "password"]}
    assert invited["id"] in {e["object_id"] for e in entries(client, org, action="create_invitation")}
    with Session(engine) as session:
        rows = session.exec(select(AuditEntry)).all()
    assert not [row for row in rows if code in row.model_dump_json()]


def test_signing_out_is_recorded_and_a_request_with_the_ended_token_is_not(
    client: TestClient, api: Api, make_org_with_roles: Callable[[], OrgWithRoles], engine: Engine
) -> None:
    org = make_org_with_roles()
    user = org.users["account-manager"]
    headers = api.login(user.email)
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    after = client.post(
        f"/api/v1/orgs/{org.slug}/invitations",
        json={"email": unique_email(), "role": "guest"},
        headers=headers,
    )
    assert after.status_code == 401
    with Session(engine) as session:
        mine = session.exec(select(AuditEntry).where(AuditEntry.actor_id == user.id)).all()
    assert [(e.action, e.object_type, e.status_code, e.org_id) for e in mine] == [
        ("logout", "session", 204, None)
    ]
    assert entries(client, org, action="create_invitation") == []


def test_every_mutating_route_is_recorded_without_a_line_of_its_own(
    client: TestClient, api: Api, make_org_with_roles: Callable[[], OrgWithRoles], engine: Engine
) -> None:
    """Each POST, PUT, PATCH and DELETE of the app, called by a member (with ids that do not exist
    and an empty body, so nothing is changed), leaves an entry under its route's name."""
    org = make_org_with_roles()
    member = org.users["super-admin"]
    headers = api.login(member.email)
    called: list[str] = []
    routes = [
        (context.path or "", route)
        for context in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
        if isinstance(route := context.original_route, APIRoute)
        and (route.methods or set()) & AUDITED_METHODS
        and route.name not in SELF_RECORDED_ROUTES
        and route.name != "delete_org"  # it would take the org away; it is recorded like any other
    ]
    routes.sort(key=lambda item: item[1].name == "logout")  # the token ends last
    for path, route in routes:
        url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path.replace("{org}", org.slug))
        for method in sorted((route.methods or set()) & AUDITED_METHODS):
            answer = client.request(method, url, json={}, headers=headers)
            assert answer.status_code < 500, f"{method} {path}: {answer.text}"
            called.append(route.name)
    assert len(set(called)) >= 30

    with Session(engine) as session:
        recorded = session.exec(select(AuditEntry.action).where(AuditEntry.actor_id == member.id)).all()
    assert sorted(set(called) - set(recorded)) == []
    assert len(recorded) >= len(called)


def test_the_orgs_creation_is_its_first_entry(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    created = entries(client, org, action="create_org")
    assert len(created) == 1
    assert created[0]["object_type"] == "org" and created[0]["object_id"]
    assert created[0]["status_code"] == 201 and created[0]["details"] == {"fields": ["name", "slug"]}


def test_secrets_sent_in_a_request_never_reach_the_log(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles], engine: Engine
) -> None:
    org = make_org_with_roles()
    secret = f"warehouse-secret-{uuid.uuid4().hex}"
    response = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse",
        json={
            "type": "postgres",
            "host": "127.0.0.1",
            "database": "postgres",
            "user": f"nobody_{uuid.uuid4().hex[:6]}",
            "password": secret,
        },
        headers=org.headers["account-manager"],
    )
    assert response.status_code == 422
    saved = entries(client, org, action="save_warehouse")
    assert len(saved) == 1
    assert saved[0]["status_code"] == 422 and saved[0]["object_type"] == "warehouse"
    assert saved[0]["details"] == {"fields": ["database", "host", "password", "type", "user"]}
    # Names a schema does not declare are not recorded either: a client cannot write into the log.
    smuggled = client.post(
        f"/api/v1/orgs/{org.slug}/invitations",
        json={"email": unique_email("smuggle"), "role": "guest", "note": secret, secret: "a field name"},
        headers=org.headers["account-manager"],
    )
    assert smuggled.status_code == 201
    assert entries(client, org, action="create_invitation")[0]["details"] == {"fields": ["email", "role"]}
    with Session(engine) as session:
        rows = session.exec(select(AuditEntry)).all()
    assert not [row for row in rows if secret in row.model_dump_json()]


def test_failed_sign_ins_are_recorded_with_the_reason_never_the_password(
    client: TestClient, api: Api, make_org_with_roles: Callable[[], OrgWithRoles], engine: Engine
) -> None:
    org = make_org_with_roles()
    member = org.users["analyst"]
    wrong = f"not-the-password-{uuid.uuid4().hex}"
    answer = client.post("/api/v1/auth/login", json={"email": member.email.upper(), "password": wrong})
    assert answer.status_code == 401
    stranger = unique_email("stranger")
    assert client.post("/api/v1/auth/login", json={"email": stranger, "password": wrong}).status_code == 401
    api.login(member.email)

    failed = entries(client, org, action="sign_in_failed")
    assert len(failed) == 1
    assert failed[0]["actor_email"] == member.email and failed[0]["actor_id"] == str(member.id)
    assert failed[0]["details"] == {"reason": "wrong password"}
    assert failed[0]["status_code"] == 401 and failed[0]["client_address"]
    assert failed[0]["request_id"] == answer.headers["x-request-id"]
    assert entries(client, org, actor=member.email) == failed

    with Session(engine) as session:
        unknown = session.exec(select(AuditEntry).where(AuditEntry.actor_email == stranger)).one()
        rows = session.exec(select(AuditEntry)).all()
    assert unknown.org_id is None and unknown.actor_id is None
    assert json.loads(unknown.details or "{}") == {"reason": "unknown email"}
    assert not [row for row in rows if wrong in row.model_dump_json() or PASSWORD in row.model_dump_json()]


@pytest.mark.parametrize("role", roles_without("can_view_audit_log"))
def test_roles_without_can_view_audit_log_may_not_read_it(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles], role: str
) -> None:
    org = make_org_with_roles()
    response = client.get(f"/api/v1/orgs/{org.slug}/audit-log", headers=org.headers[role])
    assert response.status_code == 403
    assert "can_view_audit_log" in response.json()["detail"]


def test_the_roles_with_can_view_audit_log_read_it(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    for role in roles_with("can_view_audit_log"):
        assert audit_log(client, org, role)["count"] >= 1


def test_another_orgs_entries_never_show(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    mine, theirs = make_org_with_roles(), make_org_with_roles()
    invited = invite(client, theirs.slug, theirs.headers["account-manager"], unique_email("theirs"), "guest")
    failed = client.post(
        "/api/v1/auth/login", json={"email": theirs.users["guest"].email, "password": "wrong one"}
    )
    assert failed.status_code == 401
    # Someone of my org tries their org's routes: a 404, and nothing of it lands in their log.
    probe = client.delete(
        f"/api/v1/orgs/{theirs.slug}/invitations/{invited['id']}", headers=mine.headers["super-admin"]
    )
    assert probe.status_code == 404

    mine_seen = entries(client, mine)
    assert mine_seen and all(theirs.slug not in (e["path"] or "") for e in mine_seen)
    assert not [e for e in mine_seen if e["object_id"] == invited["id"]]
    assert entries(client, mine, object_id=invited["id"]) == []
    assert entries(client, mine, actor=theirs.users["guest"].email) == []
    theirs_seen = entries(client, theirs)
    assert [e["action"] for e in theirs_seen if e["object_id"] == invited["id"]] == ["create_invitation"]
    assert not [e for e in theirs_seen if e["actor_email"] == mine.users["super-admin"].email]

    response = client.get(f"/api/v1/orgs/{theirs.slug}/audit-log", headers=mine.headers["super-admin"])
    assert response.status_code == 404


def test_filters_by_actor_object_action_and_time_with_pages_newest_first(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    boss, admin = org.headers["account-manager"], org.headers["super-admin"]
    before = datetime.now(UTC) - timedelta(seconds=1)
    made = [invite(client, org.slug, boss, unique_email("page"), "guest") for _ in range(3)]
    made.append(invite(client, org.slug, admin, unique_email("page"), "guest"))
    assert (
        client.delete(f"/api/v1/orgs/{org.slug}/invitations/{made[0]['id']}", headers=admin).status_code
        == 204
    )

    by_boss = audit_log(client, org, actor=org.users["account-manager"].email, action="create_invitation")
    assert by_boss["count"] == 3
    assert [e["object_id"] for e in by_boss["data"]] == [m["id"] for m in reversed(made[:3])]
    assert audit_log(client, org, actor=str(org.users["super-admin"].id))["count"] == 2
    about_first = entries(client, org, object_type="invitation", object_id=made[0]["id"])
    assert [e["action"] for e in about_first] == ["delete_invitation", "create_invitation"]
    deleted_at = about_first[0]["created_at"]
    assert [e["action"] for e in entries(client, org, since=deleted_at)] == ["delete_invitation"]
    window = entries(client, org, since=before.isoformat(), until=deleted_at)
    assert [e["object_id"] for e in window] == [m["id"] for m in reversed(made)]

    pages = [audit_log(client, org, since=before.isoformat(), limit=2, offset=n) for n in (0, 2, 4)]
    assert [p["count"] for p in pages] == [5, 5, 5]
    assert [len(p["data"]) for p in pages] == [2, 2, 1]
    assert [e["id"] for p in pages for e in p["data"]] == [
        e["id"] for e in entries(client, org, since=before.isoformat())
    ]

    over = client.get(f"/api/v1/orgs/{org.slug}/audit-log?limit=201", headers=boss)
    assert over.status_code == 422
    assert over.json()["detail"] == "`limit` may be at most 200; ask for the next page with `offset`."
    backwards = client.get(
        f"/api/v1/orgs/{org.slug}/audit-log",
        params={"since": deleted_at, "until": before.isoformat()},
        headers=boss,
    )
    assert backwards.status_code == 422 and "before" in backwards.json()["detail"]
    nul = client.get(f"/api/v1/orgs/{org.slug}/audit-log", params={"actor": "a\x00b"}, headers=boss)
    assert nul.status_code == 422 and nul.json()["detail"] == "A filter may not hold a NUL character."
    naive = client.get(f"/api/v1/orgs/{org.slug}/audit-log?since=2026-01-01T00:00:00", headers=boss)
    assert naive.status_code == 422 and isinstance(naive.json()["detail"], str)


def test_runs_started_and_cancelled_are_recorded_with_the_run(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles], engine: Engine
) -> None:
    org = make_org_with_roles()
    connection_id = make_connection(client, org)
    headers = org.headers["pipeline-manager"]
    started = client.post(f"/api/v1/orgs/{org.slug}/connections/{connection_id}/sync", headers=headers)
    assert started.status_code == 202, started.text
    run_id = started.json()["flow_run_id"]
    cancelled = client.post(f"/api/v1/orgs/{org.slug}/runs/{run_id}/cancel", headers=headers)
    assert cancelled.status_code == 202, cancelled.text

    sync, cancel = entries(client, org, action="sync_connection"), entries(client, org, action="cancel_run")
    assert len(sync) == 1 and len(cancel) == 1
    assert sync[0]["object_type"] == "connection" and sync[0]["object_id"] == connection_id
    assert sync[0]["details"] == {"flow_run_id": run_id}
    assert cancel[0]["object_type"] == "run" and cancel[0]["object_id"] == run_id
    created = entries(client, org, action="create_source")
    assert created[0]["details"] == {"fields": ["config", "definition", "name"]}
    with Session(engine) as session:
        mine = session.exec(select(AuditEntry).where(col(AuditEntry.org_slug) == org.slug)).all()
    assert {e.action for e in mine} >= {"create_org", "create_source", "create_connection", "sync_connection"}
