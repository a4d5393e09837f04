"""The failure notifier against real runs: each failed or crashed run reaches the org's account and
pipeline managers exactly once, by mail (real SMTP) and in the app, however often it runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prefect import flow, tags, task
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Crashed, Failed, Running
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from dalgo.alerts.delivery import claim, deliver_pending
from dalgo.alerts.failures import alert_failed_runs
from dalgo.db.models import User
from dalgo.db.notification_models import MAIL_PENDING, MAIL_SENT, Notification
from dalgo.deployments.client import prefect_client
from dalgo.flows.maintenance.notify import notify_failures
from dalgo.mail import SmtpMailer
from dalgo.naming import kind_tag, org_tag
from dalgo.settings import Settings
from tests.support.accounts import Api, OrgWithRoles, roles_except, unique_email
from tests.support.mail import Mailbox
from tests.support.network import free_port

ERROR = "relation raw.users does not exist"


@task(name="load-seeds")
def ok_step() -> int:
    return 1


@flow(name="test-sync-step")
def failing_sync_step() -> None:
    raise ValueError(ERROR)


@flow(name="test-pipeline")
def failing_pipeline() -> None:
    ok_step()
    failing_sync_step()


attempts: dict[str, int] = {}


@flow(name="test-flaky-sync", retries=1, retry_delay_seconds=0)
def flaky_sync(key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] == 1:
        raise RuntimeError("the source timed out")
    return "synced"


@flow(name="test-placeholder")
def placeholder() -> None:
    """Only its name is used: runs of it are made through the client with chosen states."""


async def _run_with_state(settings: Settings, run_tags: list[str], *states: Any) -> FlowRun:
    """A run made through the client and moved through the given states (as a worker would)."""
    async with prefect_client(settings) as client:
        run = await client.create_flow_run(placeholder, tags=run_tags, state=Running())
        for state in states:
            await client.set_flow_run_state(run.id, state, force=True)
        return await client.read_flow_run(run.id)


def _notify(org: str) -> dict[str, Any]:
    result: dict[str, Any] = asyncio.run(notify_failures(only_orgs=[org]))
    return result


async def _notify_twice_at_once(org: str) -> list[dict[str, Any]]:
    return list(await asyncio.gather(notify_failures(only_orgs=[org]), notify_failures(only_orgs=[org])))


@pytest.fixture(scope="module")
def org(make_org_with_roles: Callable[..., OrgWithRoles]) -> OrgWithRoles:
    return make_org_with_roles()


def test_each_failed_run_is_mailed_once_to_its_managers(
    flow_settings: Settings,
    client: TestClient,
    api: Api,
    org: OrgWithRoles,
    mails: Mailbox,
) -> None:
    quiet = api.make_user(unique_email("quiet-pm"))
    api.add_member(org.slug, quiet, "pipeline-manager")
    quiet_headers = api.login(quiet.email)
    opted = client.put("/api/v1/me/preferences", json={"failure_mails": False}, headers=quiet_headers)
    assert opted.status_code == 200 and opted.json() == {"failure_mails": False}

    with tags(org_tag(org.slug), kind_tag("pipeline")):
        failed = failing_pipeline(return_state=True)
    assert failed.is_failed()
    with tags(org_tag(org.slug), kind_tag("sync")):
        retried = flaky_sync(uuid.uuid4().hex, return_state=True)
    assert retried.is_completed()
    crashed = asyncio.run(
        _run_with_state(
            flow_settings,
            [org_tag(org.slug), kind_tag("sync")],
            Crashed(message="The worker process died (exit code -9)."),
        )
    )
    warned = asyncio.run(
        _run_with_state(
            flow_settings, [org_tag(org.slug), kind_tag("dbt")], Completed(name="CompletedWithWarnings")
        )
    )
    checked = asyncio.run(
        _run_with_state(flow_settings, [org_tag(org.slug), kind_tag("check")], Failed(message="no warehouse"))
    )
    failed_run_id = str(failed.state_details.flow_run_id)

    first, second = asyncio.run(_notify_twice_at_once(org.slug))
    third = _notify(org.slug)
    alerted = first["alerted_run_ids"] + second["alerted_run_ids"] + third["alerted_run_ids"]
    assert sorted(alerted) == sorted([failed_run_id, str(crashed.id)])
    assert third["already_alerted"] == 2 and third["alerted"] == 0

    for role in ("account-manager", "pipeline-manager"):
        received = mails.to(org.users[role].email)
        assert len(received) == 2, [m["Subject"] for m in received]
        bodies = {m["Subject"]: m.get_content() for m in received}
        failure = bodies[f"[Dalgo] Org {org.slug}: test-pipeline failed"]
        assert "test-sync-step" in failure and ERROR in failure
        assert f"https://dalgo.example.org/orgs/{org.slug}/runs/{failed_run_id}" in failure
        crash = next(b for s, b in bodies.items() if s.endswith("crashed"))
        assert "exit code -9" in crash and f"/orgs/{org.slug}/runs/{crashed.id}" in crash
    for role in roles_except("account-manager", "pipeline-manager"):
        assert mails.to(org.users[role].email) == []
    assert mails.to(quiet.email) == []

    listed = client.get("/api/v1/me/notifications", headers=quiet_headers).json()
    assert listed["count"] == 2
    assert {n["flow_run_id"] for n in listed["data"]} == {failed_run_id, str(crashed.id)}
    assert all(n["kind"] == "run_failed" and not n["mailed"] and n["org"] == org.slug for n in listed["data"])
    managers = client.get("/api/v1/me/notifications", headers=org.headers["account-manager"]).json()
    assert managers["count"] == 2 and all(n["mailed"] for n in managers["data"])
    guest = client.get("/api/v1/me/notifications", headers=org.headers["guest"]).json()
    assert guest["count"] == 0
    notified = {n["flow_run_id"] for n in managers["data"]}
    assert str(warned.id) not in notified and str(checked.id) not in notified
    assert str(retried.state_details.flow_run_id) not in notified


def test_an_alert_claimed_by_a_notifier_that_died_is_sent_later_once(
    flow_settings: Settings, engine: Engine, org: OrgWithRoles, mails: Mailbox
) -> None:
    run = asyncio.run(
        _run_with_state(
            flow_settings, [org_tag(org.slug), kind_tag("git")], Failed(message="git pull: denied")
        )
    )

    async def record_without_sending() -> None:
        async with prefect_client(flow_settings) as prefect:
            report = await alert_failed_runs(prefect, engine, flow_settings, [org.slug])
        assert report.alerted == 1

    asyncio.run(record_without_sending())
    manager = org.users["account-manager"]
    pending = _notification(engine, run.id, manager)
    assert pending.mail_status == MAIL_PENDING
    assert claim(engine, pending.id, timedelta(minutes=flow_settings.mail_retry_minutes))
    claimed_at = _notification(engine, run.id, manager).mail_claimed_at
    assert claimed_at is not None

    _notify(org.slug)
    assert _subjects_about(mails, manager, "git pull") == []
    assert len(_subjects_about(mails, org.users["pipeline-manager"], "git pull")) == 1

    with Session(engine) as session:
        session.exec(
            update(Notification)
            .where(col(Notification.id) == pending.id)
            .values(mail_claimed_at=claimed_at - timedelta(minutes=11))
        )
        session.commit()
    _notify(org.slug)
    _notify(org.slug)
    assert len(_subjects_about(mails, manager, "git pull")) == 1
    assert len(_subjects_about(mails, org.users["pipeline-manager"], "git pull")) == 1
    assert _notification(engine, run.id, manager).mail_status == MAIL_SENT


def _notification(engine: Engine, run_id: uuid.UUID, user: User) -> Notification:
    with Session(engine) as session:
        found = session.exec(
            select(Notification).where(Notification.flow_run_id == run_id, Notification.user_id == user.id)
        ).one()
        session.expunge(found)
        return found


def _subjects_about(mails: Mailbox, user: User, text: str) -> list[str]:
    return [str(m["Subject"]) for m in mails.to(user.email) if text in m.get_content()]


def test_a_mail_server_that_refuses_delays_the_mail_without_losing_it(
    flow_settings: Settings, engine: Engine, org: OrgWithRoles, mails: Mailbox
) -> None:
    run = asyncio.run(
        _run_with_state(
            flow_settings, [org_tag(org.slug), kind_tag("dbt")], Failed(message="dbt: compile error")
        )
    )

    async def record_without_sending() -> None:
        async with prefect_client(flow_settings) as prefect:
            assert (await alert_failed_runs(prefect, engine, flow_settings, [org.slug])).alerted == 1

    asyncio.run(record_without_sending())
    closed = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", flow_settings.mail_from, timeout_s=2)
    refused = deliver_pending(engine, closed, timedelta(minutes=10))
    assert refused.sent == 0 and refused.deferred >= 2 and "did not take the mail" in refused.errors[0]
    manager = org.users["account-manager"]
    waiting = _notification(engine, run.id, manager)
    assert waiting.mail_status == MAIL_PENDING and waiting.mail_claimed_at is None
    assert waiting.mail_attempts <= 1  # the round stops at the first mail the closed server refused

    _notify(org.slug)
    assert len(_subjects_about(mails, manager, "compile error")) == 1
    assert _notification(engine, run.id, manager).mail_status == MAIL_SENT
