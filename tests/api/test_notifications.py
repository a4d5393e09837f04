"""The caller's notifications and mail preferences: each user sees and marks only their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from dalgo.db.columns import utcnow
from dalgo.db.models import Membership, Org, User
from dalgo.db.notification_models import MAIL_OFF, MAIL_SENT, Notification
from tests.support.accounts import OrgWithRoles


def _notify(
    engine: Engine, user: User, org: str | None, subject: str, minutes_ago: float, mailed: bool
) -> str:
    with Session(engine) as session:
        org_id = session.exec(select(Org.id).where(Org.slug == org)).one() if org else None
        row = Notification(
            user_id=user.id,
            org_id=org_id,
            kind="run_failed",
            subject=subject,
            body=f"{subject}, in full.",
            link="https://dalgo.example.org/orgs/x/runs/y",
            flow_run_id=uuid.uuid4(),
            created_at=utcnow() - timedelta(minutes=minutes_ago),
            mail_status=MAIL_SENT if mailed else MAIL_OFF,
        )
        session.add(row)
        session.commit()
        return str(row.id)


@pytest.fixture(scope="module")
def org(make_org_with_roles: Callable[..., OrgWithRoles]) -> OrgWithRoles:
    return make_org_with_roles()


def test_notifications_are_listed_paged_filtered_and_marked_read(
    client: TestClient, engine: Engine, org: OrgWithRoles
) -> None:
    me, other = org.users["pipeline-manager"], org.users["account-manager"]
    headers = org.headers["pipeline-manager"]
    oldest = _notify(engine, me, org.slug, "first", 30, mailed=True)
    middle = _notify(engine, me, None, "second", 20, mailed=False)
    newest = _notify(engine, me, org.slug, "third", 10, mailed=True)
    theirs = _notify(engine, other, org.slug, "not yours", 5, mailed=True)

    listed = client.get("/api/v1/me/notifications", headers=headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 3
    assert [n["id"] for n in body["data"]] == [newest, middle, oldest]
    assert body["data"][0]["org"] == org.slug and body["data"][1]["org"] is None
    assert [n["mailed"] for n in body["data"]] == [True, False, True]
    assert all(n["read_at"] is None for n in body["data"])
    page = client.get("/api/v1/me/notifications?limit=1&offset=1", headers=headers).json()
    assert page["count"] == 3 and [n["id"] for n in page["data"]] == [middle]

    read = client.post(f"/api/v1/me/notifications/{middle}/read", headers=headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    again = client.post(f"/api/v1/me/notifications/{middle}/read", headers=headers)
    assert again.json()["read_at"] == read.json()["read_at"]
    unread = client.get("/api/v1/me/notifications?unread=true", headers=headers).json()
    assert unread["count"] == 2 and middle not in [n["id"] for n in unread["data"]]
    done = client.get("/api/v1/me/notifications?unread=false", headers=headers).json()
    assert [n["id"] for n in done["data"]] == [middle]

    for missing in (theirs, str(uuid.uuid4())):
        refused = client.post(f"/api/v1/me/notifications/{missing}/read", headers=headers)
        assert refused.status_code == 404
        assert refused.json()["detail"] == "There is no such notification among yours."
    assert client.get("/api/v1/me/notifications", headers=org.headers["account-manager"]).json()["count"] == 1
    assert client.get("/api/v1/me/notifications", headers=headers, params={"limit": 500}).status_code == 422

    with Session(engine) as session:
        session.exec(delete(Membership).where(col(Membership.user_id) == me.id))
        session.commit()
    left = client.get("/api/v1/me/notifications", headers=headers).json()
    assert [n["id"] for n in left["data"]] == [middle]
    assert client.post(f"/api/v1/me/notifications/{newest}/read", headers=headers).status_code == 404


def test_failure_mails_can_be_turned_off_and_on(client: TestClient, org: OrgWithRoles) -> None:
    headers = org.headers["account-manager"]
    assert client.get("/api/v1/me/preferences", headers=headers).json() == {"failure_mails": True}
    off = client.put("/api/v1/me/preferences", json={"failure_mails": False}, headers=headers)
    assert off.status_code == 200 and off.json() == {"failure_mails": False}
    assert client.get("/api/v1/me/preferences", headers=headers).json() == {"failure_mails": False}
    assert client.get("/api/v1/me/preferences", headers=org.headers["guest"]).json() == {
        "failure_mails": True
    }
    assert client.put("/api/v1/me/preferences", json={}, headers=headers).status_code == 422
    on = client.put("/api/v1/me/preferences", json={"failure_mails": True}, headers=headers)
    assert on.json() == {"failure_mails": True}
    assert client.get("/api/v1/me/preferences").status_code == 401
