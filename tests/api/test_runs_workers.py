"""The API in several processes (uvicorn --workers, as the stack runs it): processes starting
together on a fresh database take turns migrating, and they serve the run list side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from dalgo.api.workers import MAX_DEFAULT_WORKERS, api_workers, uvicorn_options
from dalgo.settings import Settings
from tests.secrets_registry import register_secret
from tests.support.network import free_port

WORKERS = 3
START_TIMEOUT_S = 300.0


def test_how_many_api_processes() -> None:
    """DALGO_API_WORKERS wins; unset, one per CPU (at most 4) on Postgres, one on SQLite."""
    postgres = "postgresql://postgres@127.0.0.1:5432/dalgo"
    assert api_workers(Settings(database_url=postgres, api_workers=7)) == 7
    assert api_workers(Settings(database_url=postgres)) == min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS)
    assert api_workers(Settings(database_url=None)) == 1


class ApiProcesses:
    """The API under uvicorn with several workers, on its own port and database."""

    def __init__(self, database_url: str, home: Path, prefect_api_url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.log = home / "api.log"
        self.env = {
            **os.environ,
            "DALGO_DATABASE_URL": database_url,
            "DALGO_HOME": str(home),
            "PREFECT_API_URL": prefect_api_url,
        }
        options = uvicorn_options(Settings(database_url=database_url, api_workers=WORKERS))
        command = [sys.executable, "-m", "uvicorn", *options]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def workers(self) -> set[int]:
        """The process ids of the API processes (uvicorn's children, not its resource tracker)."""
        children = psutil.Process(self.process.pid).children()
        return {c.pid for c in children if "resource_tracker" not in " ".join(c.cmdline())}

    def wait_serving(self) -> None:
        """Wait until the API answers its health check."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            try:
                if httpx.get(f"{self.base}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log.read_text(errors="replace")
            time.sleep(0.5)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


@pytest.fixture()
def api_processes(
    make_database: Callable[[str], str], settings: Settings, tmp_path: Path
) -> Iterator[ApiProcesses]:
    assert settings.prefect_api_url
    processes = ApiProcesses(make_database("workers"), tmp_path, settings.prefect_api_url)
    yield processes
    processes.stop()


def test_api_processes_start_together_on_a_fresh_database_and_serve_runs(
    api_processes: ApiProcesses,
) -> None:
    api_processes.wait_serving()
    workers = api_processes.workers()
    assert len(workers) == WORKERS

    email, password = "workers-admin@example.org", register_secret("a long enough password")
    create_user = [sys.executable, "-m", "dalgo.cli", "admin", "create-user", "--platform-admin"]
    subprocess.run(
        [*create_user, "--email", email, "--password", password],
        env=api_processes.env,
        check=True,
        capture_output=True,
    )
    with httpx.Client(base_url=api_processes.base, timeout=60) as api:
        login = api.post("/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        made = api.post("/orgs", json={"name": "Workers Org"}, headers=headers)
        assert made.status_code == 201, made.text
        slug = made.json()["slug"]

        def list_runs(_: int) -> tuple[int, object]:
            response = api.get(f"/orgs/{slug}/runs", headers=headers)
            return response.status_code, response.json()

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(list_runs, range(24)))
        assert answers == [(200, {"data": [], "count": 0})] * 24
    log = api_processes.log.read_text(errors="replace")
    assert api_processes.workers() == workers, log
    assert "died" not in log and "Traceback" not in log, log
