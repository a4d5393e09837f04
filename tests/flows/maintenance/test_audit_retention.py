"""The retention flow deletes each org's audit entries older than the org's retention, and entries
of no org after the platform's audit retention; nothing newer, and nothing of another org. Deleting
an org keeps its entries, under its slug, until then."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dalgo.db.columns import utcnow
from dalgo.db.models import AuditEntry, Org
from dalgo.flows.maintenance.retention import apply_retention
from dalgo.flows.org import delete_org
from dalgo.settings import Settings
from tests.support.accounts import OrgWithRoles


def _entry(org: Org | None, days_old: float, action: str) -> AuditEntry:
    return AuditEntry(
        created_at=utcnow() - timedelta(days=days_old),
        org_id=org.id if org else None,
        org_slug=org.slug if org else None,
        action=action,
        status_code=200,
    )


def _left(engine: Engine, actions: list[str]) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(AuditEntry.action).where(col(AuditEntry.action).in_(actions))).all())


def test_audit_entries_older_than_the_orgs_retention_go(
    flow_settings: Settings,
    engine: Engine,
    client: TestClient,
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    short, long = make_org_with_roles(), make_org_with_roles()
    tag = uuid.uuid4().hex[:8]
    names = {
        "short_old": f"old-{tag}",
        "short_recent": f"recent-{tag}",
        "long_old": f"kept-long-{tag}",
        "nobody_old": f"nobody-old-{tag}",
        "nobody_recent": f"nobody-recent-{tag}",
    }
    with Session(engine) as session:
        orgs = {
            o.slug: o for o in session.exec(select(Org).where(col(Org.slug).in_([short.slug, long.slug])))
        }
        orgs[short.slug].retention_days = 30
        orgs[long.slug].retention_days = 365
        session.add_all(orgs.values())
        session.add_all(
            [
                _entry(orgs[short.slug], 45, names["short_old"]),
                _entry(orgs[short.slug], 10, names["short_recent"]),
                _entry(orgs[long.slug], 45, names["long_old"]),
                _entry(None, flow_settings.audit_retention_days + 5, names["nobody_old"]),
                _entry(None, 10, names["nobody_recent"]),
            ]
        )
        session.commit()

    result: dict[str, Any] = asyncio.run(apply_retention(only_orgs=[short.slug, long.slug]))
    assert result["audit_entries_by_org"] == {short.slug: 1}
    assert _left(engine, list(names.values())) == set(names.values()) - {names["short_old"]}

    # What the org's account manager reads is what is left.
    log = client.get(
        f"/api/v1/orgs/{short.slug}/audit-log",
        params={"limit": 200},
        headers=short.headers["account-manager"],
    ).json()
    actions = {entry["action"] for entry in log["data"]}
    assert names["short_recent"] in actions and names["short_old"] not in actions

    # A run over every org also lets go of the entries of no org past the platform's retention.
    everything: dict[str, Any] = asyncio.run(apply_retention())
    assert everything["audit_entries_deleted"] >= 1
    assert _left(engine, list(names.values())) == {
        names["short_recent"],
        names["long_old"],
        names["nobody_recent"],
    }


def test_a_deleted_orgs_entries_stay_on_record_under_its_slug(
    flow_settings: Settings,
    engine: Engine,
    client: TestClient,
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    invited = client.post(
        f"/api/v1/orgs/{org.slug}/invitations",
        json={"email": f"gone-{uuid.uuid4().hex[:8]}@example.org", "role": "guest"},
        headers=org.headers["account-manager"],
    )
    assert invited.status_code == 201

    asyncio.run(delete_org(org.slug))

    with Session(engine) as session:
        assert session.exec(select(Org).where(Org.slug == org.slug)).first() is None
        kept = session.exec(select(AuditEntry).where(AuditEntry.org_slug == org.slug)).all()
    assert {e.action for e in kept} >= {"create_org", "create_invitation"}
    assert all(e.org_id is None for e in kept)
    assert org.users["account-manager"].email in {e.actor_email for e in kept}
