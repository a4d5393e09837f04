"""Shared fixtures: a fresh Postgres database per session, a real Prefect server on Postgres,
a real SMTP server (aiosmtpd), and the API app in-process against all three."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from dalgo.api.main import create_app
from dalgo.db.models import User
from dalgo.deployments.client import auth_headers
from dalgo.deployments.work_pools import prepare_work_pool, worker_path
from dalgo.settings import Settings
from dalgo.stack.supervisor import WORKER_ENV, worker_limit
from tests import prefect_env
from tests.secret_scan import ResponseRecorder, SessionRecord, recording_send, report, scan_session
from tests.secrets_registry import known_secrets
from tests.support.accounts import ROLE_SLUGS, Api, OrgWithRoles, unique_email
from tests.support.databases import DatabaseMaker, admin_execute
from tests.support.mail import Mailbox
from tests.support.network import free_port

# A fresh Prefect server migrates its database first: minutes on a busy 2-core machine.
SERVER_START_TIMEOUT_S = 300.0


@pytest.fixture(scope="session")
def make_database() -> Iterator[DatabaseMaker]:
    """Creates fresh Postgres databases (dropped at the end of the session); returns their URL."""
    maker = DatabaseMaker()
    yield maker
    for url in maker.urls:
        admin_execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


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
def shared_connectors_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One connectors folder for the whole run, shared by pytest-xdist's processes and set as
    DALGO_CONNECTORS_DIR for every process the tests start: each connector is installed once per
    run (an install takes a file lock), not once per process and fixture. The tests of installing
    itself, and the demo and stack tests (fresh machines), use folders of their own."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "connectors"
    folder.mkdir(exist_ok=True)
    os.environ["DALGO_CONNECTORS_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def settings(
    make_database: Callable[[str], str],
    prefect_api_url: str,
    mailbox: tuple[Mailbox, int],
    tmp_path_factory: pytest.TempPathFactory,
    shared_connectors_dir: Path,
) -> Settings:
    return Settings(
        home=tmp_path_factory.mktemp("dalgo-home"),
        connectors_dir=shared_connectors_dir,
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
        "PATH": worker_path(os.environ.get("PATH")),
    }
    prepare_work_pool(settings, str(settings.prefect_api_url))
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


@pytest.fixture(scope="session")
def api(client: TestClient, engine: object) -> Api:
    return Api(client, engine)


@pytest.fixture(scope="session")
def platform_admin(api: Api) -> dict[str, str]:
    """Headers of a platform admin."""
    user = api.make_user(unique_email("admin"), platform_admin=True)
    return api.login(user.email)


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
