"""A mail server that refuses alert mails, then takes them: each alert is tried again every
notifier round while the server is down or says "try later", and is delivered once, when it takes
mail again. A server refusing one recipient for good gives that mail up without holding back the
others. The notifier runs in-process here (as in tests/flows/maintenance), against the session's
Prefect server and API database and an SMTP server of this module's own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from prefect import flow
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.states import Failed, Running
from sqlalchemy import Engine
from sqlmodel import Session as DbSession
from sqlmodel import col, select

from dalgo.alerts.delivery import MAX_MAIL_ATTEMPTS
from dalgo.db.models import User
from dalgo.db.notification_models import MAIL_FAILED, MAIL_PENDING, MAIL_SENT, Notification
from dalgo.deployments.client import prefect_client
from dalgo.flows.maintenance.notify import notify_failures
from dalgo.naming import kind_tag, org_tag
from dalgo.settings import Settings, get_settings
from tests.support.accounts import OrgWithRoles, roles_except
from tests.support.network import free_port

ACCEPT = "accept"
TRY_LATER = "try-later"
SENDER_REFUSED = "sender-refused"


@dataclass
class MoodyMailServer:
    """An SMTP server (aiosmtpd) whose answers the test sets: `accept`, `try-later` (451 to every
    recipient), `sender-refused` (550 to the sender, as a server refusing to relay for it), and
    recipients it refuses for good (550) whatever the mood."""

    port: int
    mood: str = TRY_LATER
    refused_for_good: set[str] = field(default_factory=set)
    received: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.mood == SENDER_REFUSED:
            return "550 5.7.1 Relaying denied for this sender"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refused_for_good:
            return "550 5.1.1 No such mailbox here"
        if self.mood == TRY_LATER:
            return "451 4.3.0 Mail server busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(message)
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.received if m["To"] == address]


@pytest.fixture(scope="module")
def smtp(settings: Settings, client: TestClient) -> Iterator[MoodyMailServer]:
    """The module's SMTP server (not started: each test says when it listens), and the environment
    the in-process notifier reads its settings from, its mail going to that server."""
    server = MoodyMailServer(free_port())
    patch = pytest.MonkeyPatch()
    values = {
        "DALGO_HOME": str(settings.resolved_home),
        "DALGO_DATABASE_URL": str(settings.database_url),
        "DALGO_SMTP_URL": f"smtp://127.0.0.1:{server.port}",
        "DALGO_PUBLIC_URL": settings.public_url,
        "DALGO_WORK_POOL": settings.work_pool,
    }
    for name, value in values.items():
        patch.setenv(name, value)
    get_settings.cache_clear()
    yield server
    server.stop()
    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)
    patch.undo()
    get_settings.cache_clear()


@flow(name="test-faulty-sync")
def placeholder() -> None:
    """Only its name is used: its runs are made through the client, failed."""


def failed_sync(settings: Settings, org: str, error: str) -> str:
    """A sync run of the org that failed (made through the client, as a worker would leave it)."""

    async def make() -> str:
        async with prefect_client(settings) as prefect:
            run = await prefect.create_flow_run(
                placeholder, tags=[org_tag(org), kind_tag("sync")], state=Running()
            )
            await prefect.set_flow_run_state(run.id, Failed(message=error), force=True)
            return str(run.id)

    return asyncio.run(make())


def notify(org: str) -> dict[str, Any]:
    """One round of the failure notifier for the org (alerts recorded, pending mails sent)."""
    result: dict[str, Any] = asyncio.run(notify_failures(only_orgs=[org]))
    return result


def mail_state(engine: Engine, run_id: str, user: User) -> tuple[str, int]:
    """The status and attempt count of the user's alert mail about the run."""
    with DbSession(engine) as session:
        row = session.exec(
            select(Notification).where(
                col(Notification.flow_run_id) == run_id, col(Notification.user_id) == user.id
            )
        ).one()
        return row.mail_status, row.mail_attempts


def about(server: MoodyMailServer, user: User, text: str) -> list[EmailMessage]:
    return [m for m in server.to(user.email) if text in m.get_content()]


@pytest.fixture()
def org(make_org_with_roles: Callable[..., OrgWithRoles]) -> OrgWithRoles:
    return make_org_with_roles()


def test_an_alert_waits_out_a_refusing_mail_server_and_is_delivered_once(
    smtp: MoodyMailServer, settings: Settings, engine: Engine, org: OrgWithRoles
) -> None:
    """No server, then one answering 451 to every recipient, then one refusing the sender: more
    rounds than a mail's attempts at a refusal for good, and the alert stays pending for both
    managers, with no mail out. Once the server takes mail, each manager gets it once."""
    run_id = failed_sync(settings, org.slug, "source timed out: smtp fault test")
    managers = [org.users["account-manager"], org.users["pipeline-manager"]]

    first = notify(org.slug)
    assert first["alerted"] == 1 and first["mails_sent"] == 0 and first["mails_failed"] == 0
    assert first["mails_deferred"] >= 2
    smtp.start()
    for mood in [TRY_LATER] * MAX_MAIL_ATTEMPTS + [SENDER_REFUSED]:
        smtp.mood = mood
        refused = notify(org.slug)
        assert refused["mails_sent"] == 0 and refused["mails_failed"] == 0, (mood, refused)
        assert refused["alerted"] == 0 and refused["already_alerted"] == 1
    assert smtp.received == []
    states = [mail_state(engine, run_id, manager) for manager in managers]
    assert {status for status, _ in states} == {MAIL_PENDING}, states
    assert max(attempts for _, attempts in states) > MAX_MAIL_ATTEMPTS, states

    smtp.mood = ACCEPT
    delivered = notify(org.slug)
    assert delivered["mails_sent"] >= 2 and delivered["mails_deferred"] == 0, delivered
    notify(org.slug)
    for manager in managers:
        received = about(smtp, manager, "source timed out: smtp fault test")
        assert len(received) == 1, [m["Subject"] for m in received]
        assert f"/orgs/{org.slug}/runs/{run_id}" in received[0].get_content()
        assert mail_state(engine, run_id, manager)[0] == MAIL_SENT
    for role in roles_except("account-manager", "pipeline-manager"):
        assert smtp.to(org.users[role].email) == []


def test_a_recipient_refused_for_good_is_given_up_without_holding_back_the_others(
    smtp: MoodyMailServer, settings: Settings, engine: Engine, org: OrgWithRoles
) -> None:
    """A 550 for one manager's address: the other manager's mail goes out in the same round, and
    the refused one is given up after its attempts (the in-app notification stays)."""
    if smtp.controller is None:
        smtp.start()
    smtp.mood = ACCEPT
    gone, kept = org.users["account-manager"], org.users["pipeline-manager"]
    smtp.refused_for_good = {gone.email}
    try:
        run_id = failed_sync(settings, org.slug, "dbt compile error: smtp fault test")
        first = notify(org.slug)
        assert first["alerted"] == 1 and first["mails_sent"] >= 1
        assert len(about(smtp, kept, "dbt compile error: smtp fault test")) == 1
        assert mail_state(engine, run_id, kept)[0] == MAIL_SENT
        for _ in range(MAX_MAIL_ATTEMPTS - 1):
            assert mail_state(engine, run_id, gone)[0] == MAIL_PENDING
            notify(org.slug)
        assert mail_state(engine, run_id, gone) == (MAIL_FAILED, MAX_MAIL_ATTEMPTS)
        assert smtp.to(gone.email) == []
        assert len(about(smtp, kept, "dbt compile error: smtp fault test")) == 1
    finally:
        smtp.refused_for_good = set()
