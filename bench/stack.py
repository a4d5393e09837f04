"""The stack a scenario measures: `LocalStack` (Prefect server, one process worker, the API) on
fresh Postgres databases made for it and dropped after, and how much memory its processes hold."""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg2

from bench.report import say
from dalgo.demo.accounts import Login, ensure_platform_admin
from dalgo.deployments.client import auth_headers
from dalgo.settings import Settings
from dalgo.stack import LocalStack, StackAddresses, supervisor

PG_URL = os.environ.get("DALGO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PREFECT_DATABASE_ENV = "PREFECT_API_DATABASE_CONNECTION_URL"
ADMIN_EMAIL = "bench-admin@example.org"
START_TIMEOUT_S = 600.0


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def admin_execute(sql: str, url: str = PG_URL) -> None:
    """Run one statement on a Postgres database, outside a transaction."""
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def database_url(name: str) -> str:
    """The URL of a database on the bench's Postgres server."""
    return PG_URL.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class Databases:
    """The Postgres databases a bench run made; all dropped by `drop_all`."""

    made: list[str] = field(default_factory=list)

    def make(self, purpose: str) -> str:
        """A new, empty database; its URL."""
        name = f"dalgo_bench_{purpose}_{uuid.uuid4().hex[:8]}"
        admin_execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return database_url(name)

    def drop_all(self) -> None:
        """Drop every database made, even with connections open."""
        for name in self.made:
            admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()


@dataclass
class RunningStack:
    """A started stack: where it listens, its platform admin, and raw access to Prefect."""

    stack: LocalStack
    addresses: StackAddresses
    settings: Settings
    admin: Login

    @property
    def api_base(self) -> str:
        """The web API's root, `.../api/v1`."""
        return f"{self.addresses.api_base}/api/v1"

    @property
    def prefect_api(self) -> str:
        """Prefect's API root, `.../api`."""
        return self.addresses.prefect_api

    @property
    def prefect_headers(self) -> dict[str, str]:
        """The headers a direct call to Prefect's API sends (its credential)."""
        return auth_headers(self.stack.auth_string)

    def prefect(self, method: str, path: str, body: Any = None, timeout_s: float = 60) -> Any:
        """One call to Prefect's own API; its JSON answer (raises for an error status)."""
        response = httpx.request(
            method, f"{self.prefect_api}{path}", json=body, headers=self.prefect_headers, timeout=timeout_s
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def processes(self) -> list[psutil.Process]:
        """Every process of the stack: the server, the worker, the API and all they started."""
        found: dict[int, psutil.Process] = {}
        for child in self.stack.children:
            if child.process is None:
                continue
            try:
                root = psutil.Process(child.process.pid)
                for proc in [root, *root.children(recursive=True)]:
                    found.setdefault(proc.pid, proc)
            except psutil.Error:
                continue
        return list(found.values())

    def rss_bytes(self) -> int:
        """The resident memory of all the stack's processes together."""
        total = 0
        for proc in self.processes():
            try:
                total += int(proc.memory_info().rss)
            except psutil.Error:
                continue
        return total


@contextmanager
def running_stack(home: Path, databases: Databases, **settings: Any) -> Iterator[RunningStack]:
    """A local stack on fresh Postgres databases (Prefect's and the API's), its platform admin
    made; stopped on the way out. `settings` override the bench's platform settings."""
    os.environ[PREFECT_DATABASE_ENV] = databases.make("prefect").replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    config = Settings(
        home=home,
        database_url=databases.make("api"),
        prefect_api_url=None,
        smtp_url="",
        work_pool=f"bench-{uuid.uuid4().hex[:6]}",
        allow_private_networks=True,
        login_rate_limit_per_address="100000/minute",
        login_rate_limit_per_email="100000/minute",
        **settings,
    )
    # A loaded machine starts Prefect slower than the stack's defaults allow (its own checks
    # still fail a part that exits).
    supervisor.SERVER_START_TIMEOUT_S = max(supervisor.SERVER_START_TIMEOUT_S, START_TIMEOUT_S)
    supervisor.WORKER_START_TIMEOUT_S = max(supervisor.WORKER_START_TIMEOUT_S, START_TIMEOUT_S)
    supervisor.API_START_TIMEOUT_S = max(supervisor.API_START_TIMEOUT_S, START_TIMEOUT_S)
    stack = LocalStack(
        config, api_port=free_port(), prefect_port=free_port(), say=lambda text: say(f"  {text}")
    )
    try:
        addresses = stack.start()
        admin = Login(ADMIN_EMAIL, secrets.token_urlsafe(16))
        ensure_platform_admin(stack.settings, admin)
        yield RunningStack(stack, addresses, stack.settings, admin)
    finally:
        say("  stopping the stack")
        stack.stop()
