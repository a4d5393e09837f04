"""Shared fixtures: a fresh Postgres database per session, a real Prefect server on Postgres,
a real SMTP server (aiosmtpd), and the API app in-process against all three."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags, LogFilter, LogFilterFlowRunId
from sqlmodel import Session, select

from dalgo.api.main import create_app
from dalgo.api.services.accounts import create_user
from dalgo.db.models import Membership, Org, User
from dalgo.deployments.client import auth_headers, prefect_client
from dalgo.naming import org_tag
from dalgo.settings import Settings
from dalgo.stack.supervisor import WORKER_ENV, worker_limit
from tests import prefect_env
from tests.secret_scan import ResponseRecorder as ResponseRecorder
from tests.secret_scan import SessionRecord, recording_send, report, scan_session
from tests.secrets_registry import USER_PASSWORD, known_secrets

PG_URL = os.environ.get("DALGO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = USER_PASSWORD
# A fresh Prefect server migrates its database first: minutes on a busy 2-core machine.
SERVER_START_TIMEOUT_S = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _admin_execute(sql: str) -> None:
    connection = psycopg2.connect(PG_URL)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@dataclass
class DatabaseMaker:
    """Makes fresh Postgres databases for the session and remembers their URLs."""

    urls: list[str] = field(default_factory=list)

    def __call__(self, purpose: str) -> str:
        name = f"dalgo_test_{purpose}_{uuid.uuid4().hex[:10]}"
        _admin_execute(f'CREATE DATABASE "{name}"')
        url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
        self.urls.append(url)
        return url


@pytest.fixture(scope="session")
def make_database() -> Iterator[DatabaseMaker]:
    """Creates fresh Postgres databases (dropped at the end of the session); returns their URL."""
    maker = DatabaseMaker()
    yield maker
    for url in maker.urls:
        _admin_execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def session_record(
    make_database: DatabaseMaker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionRecord]:
    """The session's secret scan: records every answer of every TestClient, every log line of
    this process and (through the mailbox) every mail; at the end of the session, once the
    servers have stopped and before the databases are dropped, fails if a known test secret is
    in any of them, in an outbox's mail or a log file under the session's temporary folder, or
    in the session's Prefect and API databases (tests/secret_scan.py)."""
    record = SessionRecord()
    logging.getLogger().addHandler(record.logs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TestClient, "send", recording_send(TestClient.send, record.answers))
        yield record
    logging.getLogger().removeHandler(record.logs)
    leaks = scan_session(record, make_database.urls, tmp_path_factory.getbasetemp(), known_secrets())
    if leaks:
        pytest.fail(report(leaks), pytrace=False)


@pytest.fixture(scope="session")
def prefect_api_url(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real Prefect server on its own Postgres database, shared by the whole session; its API
    demands the session's credential (prefect_env.AUTH_STRING, in this process's environment)."""
    database = make_database("prefect").replace("postgresql://", "postgresql+asyncpg://", 1)
    port = prefect_env.PREFECT_PORT
    home = tmp_path_factory.mktemp("prefect-home")
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": database,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PREFECT_SERVER_API_AUTH_STRING": prefect_env.AUTH_STRING,
        # Scheduled runs of a new deployment, expired leases and subflows of cancelled runs are
        # handled within seconds rather than Prefect's production intervals.
        "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
        "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "2",
        "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS": "2",
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise RuntimeError(f"the Prefect server was not healthy within {SERVER_START_TIMEOUT_S:.0f} s")
        time.sleep(0.5)
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    log.close()


@dataclass
class Mailbox:
    """Mails received by the test SMTP server."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    record: SessionRecord | None = None

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
            if self.record is not None:
                self.record.mails.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def last_to(self, address: str) -> EmailMessage:
        found = self.to(address)
        assert found, f"no mail reached {address}"
        return found[-1]


@pytest.fixture(scope="session")
def mailbox(session_record: SessionRecord) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on a free port, and the mails it received (also recorded
    for the session's secret scan)."""
    box = Mailbox(record=session_record)
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="session")
def settings(
    make_database: Callable[[str], str],
    prefect_api_url: str,
    mailbox: tuple[Mailbox, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    return Settings(
        home=tmp_path_factory.mktemp("dalgo-home"),
        database_url=make_database("api"),
        prefect_api_url=prefect_api_url,
        smtp_url=f"smtp://127.0.0.1:{mailbox[1]}",
        public_url="https://dalgo.example.org",
        work_pool=f"dalgo-test-{uuid.uuid4().hex[:6]}",
        # The session's warehouses are the local Postgres; the outbound guard's refusals of
        # loopback and private addresses are tested with an app of their own.
        allow_private_networks=True,
        # Every test signs in from the same client address; the limits are tested on their own.
        login_rate_limit_per_address="100000/minute",
        login_rate_limit_per_email="10000/minute",
        # Many tests start runs in one org; the manual-run limit is tested with an app of its own.
        manual_run_rate_limit="10000/minute",
    )


@pytest.fixture(scope="session")
def worker(settings: Settings, client: TestClient) -> Iterator[str]:
    """A real Prefect process worker for the session's work pool, with the platform's settings
    in its environment (so flow runs reach the same API database, home and Prefect server, with
    Prefect's credential)."""
    home = settings.resolved_home
    env = {
        **os.environ,
        "PREFECT_API_URL": str(settings.prefect_api_url),
        "PREFECT_API_AUTH_STRING": prefect_env.AUTH_STRING,
        "PREFECT_HOME": str(home / "prefect"),
        **WORKER_ENV,
        "DALGO_HOME": str(home),
        "DALGO_DATABASE_URL": str(settings.database_url),
        "DALGO_WORK_POOL": settings.work_pool,
        "DALGO_ALLOW_PRIVATE_NETWORKS": "true",
    }
    log_path = home / "worker.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "prefect"),
            "worker",
            "start",
            "--pool",
            settings.work_pool,
            "--type",
            "process",
            "--limit",
            str(worker_limit(settings)),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        response = httpx.post(
            f"{settings.prefect_api_url}/work_pools/{settings.work_pool}/workers/filter",
            json={},
            headers=auth_headers(prefect_env.AUTH_STRING),
            timeout=5,
        )
        if response.status_code == 200 and response.json():
            break
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise RuntimeError(f"the worker did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.5)
    yield settings.work_pool
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    log.close()


def wait_for_run(
    client: TestClient, org: str, run_id: str, headers: dict[str, str], timeout_s: float = 120
) -> dict[str, object]:
    """Poll the run through the API until it has ended; its detail."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/api/v1/orgs/{org}/runs/{run_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        if body["state"] in ("completed", "completed_with_warnings", "failed", "crashed", "cancelled"):
            return body
        assert time.monotonic() < deadline, f"run {run_id} still {body['state']} after {timeout_s} s"
        time.sleep(0.5)


@pytest.fixture(scope="session")
def recorder(session_record: SessionRecord) -> ResponseRecorder:
    """Every answer any TestClient received in this session so far."""
    return session_record.answers


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """The API in-process, migrated, against the session's Postgres, Prefect and SMTP servers."""
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def engine(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.engine  # type: ignore[attr-defined]


@pytest.fixture()
def mails(mailbox: tuple[Mailbox, int]) -> Mailbox:
    return mailbox[0]


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.org"


def unique_slug(prefix: str = "org") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Api:
    """Small helpers over the test client for making users, orgs and members."""

    client: TestClient
    engine: object

    def make_user(self, email: str | None = None, *, platform_admin: bool = False) -> User:
        with Session(self.engine) as session:  # type: ignore[arg-type]
            user = create_user(session, email or unique_email(), PASSWORD, is_platform_admin=platform_admin)
            session.commit()
            session.refresh(user)
            return user

    def login(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        response = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def make_org(self, admin_headers: dict[str, str], slug: str | None = None) -> str:
        slug = slug or unique_slug()
        response = self.client.post(
            "/api/v1/orgs", json={"name": f"Org {slug}", "slug": slug}, headers=admin_headers
        )
        assert response.status_code == 201, response.text
        return slug

    def add_member(self, org_slug: str, user: User, role: str) -> None:
        """Adds a membership directly (the invitation path has tests of its own)."""
        with Session(self.engine) as session:  # type: ignore[arg-type]
            org = session.exec(select(Org).where(Org.slug == org_slug)).one()
            session.add(Membership(user_id=user.id, org_id=org.id, role_slug=role))
            session.commit()


@pytest.fixture(scope="session")
def api(client: TestClient, engine: object) -> Api:
    return Api(client, engine)


@pytest.fixture(scope="session")
def platform_admin(api: Api) -> dict[str, str]:
    """Headers of a platform admin."""
    user = api.make_user(unique_email("admin"), platform_admin=True)
    return api.login(user.email)


ROLE_SLUGS = ("guest", "analyst", "pipeline-manager", "account-manager", "super-admin")


@dataclass
class OrgWithRoles:
    slug: str
    headers: dict[str, dict[str, str]]
    users: dict[str, User]


@pytest.fixture(scope="session")
def make_org_with_roles(api: Api, platform_admin: dict[str, str]) -> Callable[..., OrgWithRoles]:
    """Makes an org (with the given slug, or a random one) with one signed-in member per role."""

    def make(slug: str | None = None) -> OrgWithRoles:
        slug = api.make_org(platform_admin, slug)
        headers: dict[str, dict[str, str]] = {}
        users: dict[str, User] = {}
        for role in ROLE_SLUGS:
            user = api.make_user(unique_email(role))
            api.add_member(slug, user, role)
            users[role] = user
            headers[role] = api.login(user.email)
        return OrgWithRoles(slug, headers, users)

    return make


def org_run_parameters_and_logs(settings: Settings, org: str) -> tuple[str, str]:
    """The parameters of every run of the org (as JSON) and every log line of them, from Prefect."""

    async def read() -> tuple[str, str]:
        async with prefect_client(settings) as prefect:
            runs = await prefect.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[org_tag(org)]))
            )
            logs = await prefect.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[r.id for r in runs]))
            )
            return json.dumps([r.parameters for r in runs]), "\n".join(log.message for log in logs)

    return asyncio.run(read())


@contextlib.contextmanager
def open_duckdb(path: str | Path, timeout_s: float = 30) -> Iterator[Any]:
    """The DuckDB file opened read-only, once the run that wrote it has let go of it (a run's
    process can hold the file's lock for a moment after the run is marked finished)."""
    import duckdb

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        yield connection
    finally:
        connection.close()


class ProcessOutput:
    """Collects a process's output lines on a thread, so reading never blocks the test."""

    def __init__(self, stream: Iterator[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Iterator[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, needle: str, timeout_s: float, proc: subprocess.Popen[str]) -> None:
        """Wait until a line holds `needle`; fail with the output if the process ends or time runs out."""
        deadline = time.monotonic() + timeout_s
        while needle not in self.text:
            if proc.poll() is not None:
                self._thread.join(5)
                pytest.fail(f"{proc.args!r} exited with {proc.returncode}:\n{self.text}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {needle!r} after {timeout_s} s:\n{self.text}")
            time.sleep(0.5)
