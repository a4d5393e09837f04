"""Maintenance jobs against real state: expiring invitations, codes and tokens; run retention;
alerts about long runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound
from prefect.states import Completed, Running, Scheduled
from sqlalchemy import Engine
from sqlmodel import Session, select

from dalgo.api.security import digest, new_secret
from dalgo.db.columns import utcnow
from dalgo.db.models import ApiToken, Invitation, Org, PasswordResetCode
from dalgo.db.notification_models import Notification
from dalgo.deployments.client import prefect_client
from dalgo.flows.maintenance.long_runs import alert_long_runs
from dalgo.flows.maintenance.retention import apply_retention
from dalgo.flows.maintenance.tokens_and_invitations import expire_tokens_and_invitations
from dalgo.naming import kind_tag, org_tag
from dalgo.settings import Settings
from tests.support.accounts import Api, OrgWithRoles, unique_email
from tests.support.mail import Mailbox


@flow(name="test-maintenance-placeholder")
def placeholder() -> None:
    """Only its name is used: runs of it are made through the client."""


def _org_id(engine: Engine, slug: str) -> uuid.UUID:
    with Session(engine) as session:
        return session.exec(select(Org.id).where(Org.slug == slug)).one()


def test_expired_invitations_codes_and_tokens_go(
    flow_settings: Settings, engine: Engine, api: Api, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    org_id = _org_id(engine, org.slug)
    user = org.users["guest"]
    now = utcnow()

    def invitation(expires_days: float, accepted: bool = False) -> Invitation:
        return Invitation(
            org_id=org_id,
            email=unique_email("invited"),
            role_slug="guest",
            code_hash=digest(new_secret()),
            expires_at=now + timedelta(days=expires_days),
            accepted_at=now - timedelta(days=60) if accepted else None,
        )

    def code(expires_minutes: float, used: bool = False) -> PasswordResetCode:
        return PasswordResetCode(
            user_id=user.id,
            code_hash=digest(new_secret()),
            expires_at=now + timedelta(minutes=expires_minutes),
            used_at=now if used else None,
        )

    def token(expires_hours: float, revoked: bool = False) -> ApiToken:
        return ApiToken(
            user_id=user.id,
            token_hash=digest(new_secret()),
            expires_at=now + timedelta(hours=expires_hours),
            revoked_at=now if revoked else None,
        )

    gone: list[Invitation | PasswordResetCode | ApiToken] = [
        invitation(-40),
        code(-1),
        code(30, used=True),
        token(-1),
        token(5, revoked=True),
    ]
    kept: list[Invitation | PasswordResetCode | ApiToken] = [
        invitation(-1),
        invitation(5),
        invitation(-90, accepted=True),
        code(30),
        token(5),
    ]
    ids = [(type(row), row.id) for row in gone], [(type(row), row.id) for row in kept]
    with Session(engine) as session:
        session.add_all([*gone, *kept])
        session.commit()

    result: dict[str, Any] = asyncio.run(expire_tokens_and_invitations())
    assert result["invitations"] >= 1 and result["password_reset_codes"] >= 2 and result["api_tokens"] >= 2
    with Session(engine) as session:
        assert all(session.get(kind, row_id) is None for kind, row_id in ids[0])
        assert all(session.get(kind, row_id) is not None for kind, row_id in ids[1])
    again: dict[str, Any] = asyncio.run(expire_tokens_and_invitations())
    assert again == {"invitations": 0, "password_reset_codes": 0, "api_tokens": 0}
    assert api.client.get("/api/v1/me", headers=org.headers["guest"]).status_code == 200


async def _run(settings: Settings, tags: list[str], due_days_ago: float, *states: Any) -> FlowRun:
    """A run made through the client, due `due_days_ago`, moved through the given states."""
    async with prefect_client(settings) as client:
        due = utcnow() - timedelta(days=due_days_ago)
        run = await client.create_flow_run(placeholder, tags=tags, state=Scheduled(scheduled_time=due))
        for state in states:
            await client.set_flow_run_state(run.id, state, force=True)
        return await client.read_flow_run(run.id)


async def _exists(settings: Settings, run_id: uuid.UUID) -> bool:
    async with prefect_client(settings) as client:
        try:
            await client.read_flow_run(run_id)
        except ObjectNotFound:
            return False
        return True


def test_retention_deletes_only_finished_runs_older_than_the_orgs_retention(
    flow_settings: Settings, engine: Engine, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    short, long = make_org_with_roles(), make_org_with_roles()
    with Session(engine) as session:
        for slug, days in ((short.slug, 30), (long.slug, 365)):
            org = session.exec(select(Org).where(Org.slug == slug)).one()
            org.retention_days = days
            session.add(org)
        session.add(
            Notification(
                user_id=short.users["guest"].id,
                org_id=_org_id(engine, short.slug),
                kind="run_failed",
                subject="old",
                body="old",
                created_at=utcnow() - timedelta(days=45),
            )
        )
        session.commit()
    tags = [org_tag(short.slug), kind_tag("sync")]
    old = asyncio.run(_run(flow_settings, tags, 45, Running(), Completed()))
    recent = asyncio.run(_run(flow_settings, tags, 10, Running(), Completed()))
    waiting = asyncio.run(_run(flow_settings, tags, 45))
    theirs = asyncio.run(_run(flow_settings, [org_tag(long.slug), kind_tag("sync")], 45, Completed()))

    result: dict[str, Any] = asyncio.run(apply_retention(only_orgs=[short.slug, long.slug]))
    assert result["by_org"] == {short.slug: {"runs": 1, "notifications": 1}}
    assert not asyncio.run(_exists(flow_settings, old.id))
    for kept in (recent, waiting, theirs):
        assert asyncio.run(_exists(flow_settings, kept.id))
    assert asyncio.run(apply_retention(only_orgs=[short.slug, long.slug]))["runs_deleted"] == 0


def test_long_runs_are_told_to_platform_admins_once(
    flow_settings: Settings, api: Api, make_org_with_roles: Callable[..., OrgWithRoles], mails: Mailbox
) -> None:
    org = make_org_with_roles()
    admin = api.make_user(unique_email("operator"), platform_admin=True)
    running = asyncio.run(_run(flow_settings, [org_tag(org.slug), kind_tag("pipeline")], 0, Running()))
    time.sleep(1.5)
    first: dict[str, Any] = asyncio.run(alert_long_runs(threshold_hours=1 / 3600, only_orgs=[org.slug]))
    second: dict[str, Any] = asyncio.run(alert_long_runs(threshold_hours=1 / 3600, only_orgs=[org.slug]))
    assert first["long_runs"] == 1 and first["alerted"] == 1
    assert second["alerted"] == 0 and second["already_alerted"] == 1
    received = mails.to(admin.email)
    assert len(received) == 1
    body = received[0].get_content()
    assert running.name in body and f"/orgs/{org.slug}/runs/{running.id}" in body
    assert mails.to(org.users["account-manager"].email) == []
    shown = api.client.get("/api/v1/me/notifications", headers=api.login(admin.email)).json()
    assert [(n["kind"], n["org"], n["flow_run_id"]) for n in shown["data"]] == [
        ("long_run", org.slug, str(running.id))
    ]
    asyncio.run(_finish(flow_settings, running.id))


async def _finish(settings: Settings, run_id: uuid.UUID) -> None:
    async with prefect_client(settings) as client:
        await client.set_flow_run_state(run_id, Completed(), force=True)
