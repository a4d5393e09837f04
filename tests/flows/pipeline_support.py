"""What the pipeline scenarios of tests/flows/test_pipeline.py share: an org driven through the
API, polling, and a Prefect worker of its own that can be killed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg2
from fastapi.testclient import TestClient

from dalgo.deployments.work_pools import worker_path
from dalgo.settings import Settings
from dalgo.stack.supervisor import WORKER_ENV, worker_limit
from tests.support.accounts import OrgWithRoles
from tests.support.runs import wait_for_run
from tests.support.warehouses import postgres_body

RUN_TIMEOUT_S = 300


@dataclass
class Org:
    """An org of these tests: its members, its warehouse database, and helpers over the API."""

    client: TestClient
    roles: OrgWithRoles
    database_url: str

    @property
    def slug(self) -> str:
        return self.roles.slug

    @property
    def manager(self) -> dict[str, str]:
        return self.roles.headers["pipeline-manager"]

    @property
    def guest(self) -> dict[str, str]:
        return self.roles.headers["guest"]

    def url(self, path: str) -> str:
        return f"/api/v1/orgs/{self.slug}/{path}"

    def post(self, path: str, body: dict[str, Any] | None = None, status: int = 201) -> dict[str, Any]:
        response = self.client.post(self.url(path), json=body, headers=self.manager)
        assert response.status_code == status, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def get(self, path: str) -> Any:
        response = self.client.get(self.url(path), headers=self.guest)
        assert response.status_code == 200, response.text
        return response.json()

    def connection(
        self, definition: str, config: dict[str, Any], streams: list[str] | None
    ) -> dict[str, str]:
        source = self.post("sources", {"name": definition, "definition": definition, "config": config})
        made = self.post(
            "connections",
            {"name": definition, "source_id": source["id"], "streams": streams, "destination_schema": "raw"},
        )
        return {"source_id": str(source["id"]), "connection_id": str(made["id"])}

    def pipeline(self, name: str, steps: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
        return self.post("pipelines", {"name": name, "steps": steps, **options})

    def run(self, pipeline: dict[str, Any]) -> str:
        return str(self.post(f"pipelines/{pipeline['id']}/run", status=202)["flow_run_id"])

    def wait(self, run_id: str) -> dict[str, Any]:
        return wait_for_run(self.client, self.slug, run_id, self.guest, timeout_s=RUN_TIMEOUT_S)

    def locks(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("locks")
        return found


def make_org(
    client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles], make_database: Callable[[str], str]
) -> Org:
    roles = make_org_with_roles()
    url = make_database("pipeline")
    saved = client.put(
        f"/api/v1/orgs/{roles.slug}/warehouse", json=postgres_body(url), headers=roles.headers["super-admin"]
    )
    assert saved.status_code == 200, saved.text
    return Org(client, roles, url)


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return list(cursor.fetchall())
    finally:
        connection.close()


def lock_of(org: Org, resource: str) -> dict[str, Any] | None:
    return next((lock for lock in org.locks() if lock["resource"] == resource), None)


def step_runs(org: Org, run_id: str) -> dict[str, dict[str, Any]]:
    """The run's steps by the part of their name after the slug."""
    detail = org.get(f"runs/{run_id}")
    return {step["name"].split("--", 1)[1]: step for step in detail["steps"]}


@dataclass
class Worker:
    """A Prefect process worker of its own, for the work pool of one org."""

    settings: Settings
    pool: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PREFECT_API_URL": str(self.settings.prefect_api_url),
            "PREFECT_HOME": str(self.settings.resolved_home / "prefect-kill"),
            **WORKER_ENV,
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
            "DALGO_HOME": str(self.settings.resolved_home),
            "PATH": worker_path(os.environ.get("PATH")),
            "DALGO_DATABASE_URL": str(self.settings.database_url),
            "DALGO_WORK_POOL": self.pool,
            "DALGO_ALLOW_PRIVATE_NETWORKS": str(self.settings.allow_private_networks).lower(),
        }
        command = [str(Path(sys.executable).parent / "prefect"), "worker", "start", "--pool", self.pool]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--type", "process", "--limit", str(worker_limit(self.settings))],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def connector_reading(self) -> bool:
        """Whether a connector started by this worker's runs is reading."""
        assert self.process is not None
        for process in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if " read " in f" {' '.join(process.cmdline())} ":
                    return True
        return False

    def kill(self) -> None:
        """SIGKILL the worker and every process under it at once, as when a machine dies."""
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        for process in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
