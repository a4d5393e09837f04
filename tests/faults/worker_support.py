"""What the worker fault tests share: a Prefect process worker of their own (on a work pool of
their own, so the session's worker is never touched) that can be stopped, killed and started
again, and an org whose runs go to that pool, with a Postgres warehouse."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from fastapi.testclient import TestClient

from dalgo.deployments.client import auth_headers
from dalgo.deployments.work_pools import worker_path
from dalgo.settings import Settings
from dalgo.stack.supervisor import WORKER_ENV, worker_limit
from tests import prefect_env
from tests.flows.pipeline_support import Org, make_org
from tests.support.accounts import OrgWithRoles

START_TIMEOUT_S = 120.0


@dataclass
class FaultWorker:
    """A Prefect process worker for one work pool, with the platform's settings in its
    environment."""

    settings: Settings
    pool: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker and wait until the Prefect server lists it as a worker of its pool."""
        env = {
            **os.environ,
            "PREFECT_API_URL": str(self.settings.prefect_api_url),
            "PREFECT_API_AUTH_STRING": prefect_env.AUTH_STRING,
            "PREFECT_HOME": str(self.settings.resolved_home / f"prefect-{self.pool}"),
            **WORKER_ENV,
            "DALGO_HOME": str(self.settings.resolved_home),
            "PATH": worker_path(os.environ.get("PATH")),
            "DALGO_DATABASE_URL": str(self.settings.database_url),
            "DALGO_WORK_POOL": self.pool,
            "DALGO_ALLOW_PRIVATE_NETWORKS": str(self.settings.allow_private_networks).lower(),
        }
        name = f"{self.pool}-{int(time.time() * 1000)}"
        command = [str(Path(sys.executable).parent / "prefect"), "worker", "start", "--pool", self.pool]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--name", name, "--type", "process", "--limit", str(worker_limit(self.settings))],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while name not in self.listed():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the worker did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.5)

    def listed(self) -> set[str]:
        """The names of the workers the Prefect server lists for the pool."""
        response = httpx.post(
            f"{self.settings.prefect_api_url}/work_pools/{self.pool}/workers/filter",
            json={},
            headers=auth_headers(prefect_env.AUTH_STRING),
            timeout=5,
        )
        return {w["name"] for w in response.json()} if response.status_code == 200 else set()

    def processes(self) -> list[psutil.Process]:
        """The worker and every process under it (its flow runs, their connectors)."""
        if self.process is None or self.process.poll() is not None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        return []

    def kill(self) -> None:
        """SIGKILL the worker and every process under it at once, as when its machine dies."""
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the worker as an operator does (SIGTERM), SIGKILL if it does not end."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def placed_org(
    client: TestClient,
    platform_admin: dict[str, str],
    make_org_with_roles: Callable[..., OrgWithRoles],
    make_database: Callable[[str], str],
    pool: str,
) -> Org:
    """An org with a Postgres warehouse whose runs go to `pool`. Its silent runs are marked crashed
    after the platform's `DALGO_CRASH_AFTER_SILENCE_S`, later than these tests look."""
    org = make_org(client, make_org_with_roles, make_database)
    placed = client.put(
        f"/api/v1/platform/orgs/{org.slug}/execution", json={"work_pool": pool}, headers=platform_admin
    )
    assert placed.status_code == 200 and placed.json()["work_pool"] == pool, placed.text
    return org


def sync(org: Org, connection_id: str) -> str:
    """Start a sync of the connection through the API; its run id."""
    return str(org.post(f"connections/{connection_id}/sync", status=202)["flow_run_id"])


def run_detail(org: Org, run_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = org.get(f"runs/{run_id}")
    return detail
