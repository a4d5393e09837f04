"""The local stack's parts, started in order and stopped in reverse: a Prefect server (unless
PREFECT_API_URL names one), a process worker of the work pool, and the API under uvicorn.

`LocalStack.start` returns once every part answers (and the maintenance deployments are applied),
leaving the caller in control; `LocalStack.stop` ends every child and all they started. `dalgo
serve` (`dalgo.stack.serve`) and `dalgo demo` (`dalgo.demo`) both use it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from cryptography.fernet import Fernet
from pydantic import SecretStr
from rich.console import Console

from dalgo.api.workers import uvicorn_options
from dalgo.deployments.client import (
    AUTH_STRING_ENV,
    SERVER_AUTH_STRING_ENV,
    auth_headers,
    prefect_auth_string,
)
from dalgo.deployments.platform import deploy_at_start
from dalgo.deployments.work_pools import prepare_work_pool, worker_path
from dalgo.sandbox import SANDBOX_OFF_WARNING
from dalgo.settings import Settings
from dalgo.stack.checks import (
    answers,
    answers_200,
    check_port_free,
    connect_host,
    wait_until,
    worker_heartbeats,
    worker_online,
)
from dalgo.stack.children import Child

ENCRYPTION_KEY_ENV = "PREFECT_SERVER_ENCRYPTION_KEY"
UI_API_URL_ENV = "PREFECT_UI_API_URL"
UI_URL_ENV = "PREFECT_UI_URL"
DATABASE_URL_ENV = "PREFECT_API_DATABASE_CONNECTION_URL"
AUTH_FILE = "prefect-api-auth"
AUTH_USER = "dalgo"

SERVER_START_TIMEOUT_S = 240.0
"""A fresh Prefect server migrates its database first: minutes on a slow or busy machine."""
WORKER_START_TIMEOUT_S = 120.0
API_START_TIMEOUT_S = 120.0
EXTERNAL_PREFECT_TIMEOUT_S = 30.0
WORKER_ENV = {
    "PREFECT_WORKER_QUERY_SECONDS": "1",
    "PREFECT_WORKER_PREFETCH_SECONDS": "10",
}
"""Prefect's settings for the process worker (the environment wins over them). It asks for work
every second (one light query a second per worker), so a run started by hand waits half a second
for it on average; it takes runs due in the next 10 s, so a scheduled run's process has started
and loaded its flow by the time it is due (Prefect holds it Pending until then)."""
RUN_MEMORY_BYTES = 1 << 30
"""The memory one flow run is allowed for when the worker's limit is not set: its process (90 MB at
start, 130 MB with a dbt step, 450 MB once a sync has loaded PyAirbyte) and the connector or dbt
process it starts."""
FLOW_RUN_ID_ENV = "PREFECT__FLOW_RUN_ID"
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
STOPPED_MESSAGE = "The local stack was stopped while this run was going."

console = Console(highlight=False, soft_wrap=True)


def local_encryption_key(home: Path) -> tuple[str, bool]:
    """Read DALGO_HOME/prefect-encryption.key, or create it (mode 0600); also say if it was made."""
    path = home / "prefect-encryption.key"
    if path.exists():
        return path.read_text().strip(), False
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key)
    return key.decode(), True


def local_auth_string(home: Path) -> tuple[str, bool]:
    """Read DALGO_HOME/prefect-api-auth (Prefect's API credential, `user:password`), or create it
    (mode 0600) with a random password; also say if it was made."""
    path = home / AUTH_FILE
    if path.exists():
        return path.read_text().strip(), False
    auth = f"{AUTH_USER}:{secrets.token_urlsafe(32)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(auth + "\n")
    return auth, True


def worker_limit(settings: Settings) -> int:
    """How many flow runs the process worker runs at once: DALGO_WORKER_LIMIT, else one per
    RUN_MEMORY_BYTES of the machine's memory (at least one)."""
    if settings.worker_limit is not None:
        return settings.worker_limit
    return max(1, psutil.virtual_memory().total // RUN_MEMORY_BYTES)


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as DALGO_* variables, so children see exactly what the supervisor sees
    (Prefect's URLs and credential go to them under Prefect's own names)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None or name in ("prefect_api_url", "prefect_api_auth_string", "prefect_ui_url"):
            continue
        env[f"DALGO_{name.upper()}"] = str(value)
    env["DALGO_HOME"] = str(settings.resolved_home)
    return env


@dataclass(frozen=True)
class StackAddresses:
    """Where a started stack listens."""

    api_base: str
    prefect_api: str
    prefect_credential: str = ""
    """Where Prefect's API credential is kept (a file's path or a variable's name), never the secret."""
    prefect_ui_url: str = ""
    """The Prefect UI's public address when one is configured (PREFECT_UI_URL)."""

    @property
    def api_docs(self) -> str:
        return f"{self.api_base}/docs"

    @property
    def prefect_ui(self) -> str:
        """Where operators open the Prefect UI."""
        return self.prefect_ui_url or self.prefect_api.removesuffix("/api")

    @property
    def prefect_sign_in(self) -> str:
        """How an operator signs in to the Prefect UI (says where the credential is, not what)."""
        if not self.prefect_credential:
            return "no sign-in: this Prefect server has no credential"
        return f"sign in with the user:password in {self.prefect_credential}"


class LocalStack:
    """The children of one local stack. Call `stop` when done, whether or not `start` succeeded."""

    def __init__(
        self,
        settings: Settings,
        api_port: int = 8000,
        prefect_port: int = 4200,
        host: str = "127.0.0.1",
        stop_event: threading.Event | None = None,
        say: Callable[[str], None] | None = None,
        prefect_host: str = "127.0.0.1",
    ) -> None:
        self.settings = settings
        self.api_port = api_port
        self.prefect_port = prefect_port
        self.host = host
        self.prefect_host = prefect_host
        self.home = settings.resolved_home
        self.logs = self.home / "logs"
        self.stop_event = stop_event or threading.Event()
        self.say = say or (lambda text: console.print(text, markup=False))
        self.children: list[Child] = []
        self.prefect_api: str | None = None
        self.auth_string: str | None = None
        self.credential_place = ""
        self.prefect = str(Path(sys.executable).parent / "prefect")
        self.env = {**os.environ, **settings_env(settings)}
        self.env["PREFECT_HOME"] = str(self.home / "prefect")
        self.prefect_ui_url = (settings.prefect_ui_url or "").rstrip("/")
        if self.prefect_ui_url:
            self.env[UI_URL_ENV] = self.prefect_ui_url

    def start(self) -> StackAddresses:
        """Start every part and wait until each answers; then apply the maintenance deployments.

        Raises StartupError when a part does not come up, StopRequestedError when `stop_event`
        is set meanwhile.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        self.say(f"DALGO_HOME is {self.home}; the children log to {self.logs}/")
        if self.settings.sandbox == "off":
            self.say(f"WARNING: {SANDBOX_OFF_WARNING}")
        api_base = f"http://{connect_host(self.host)}:{self.api_port}"
        check_port_free(self.host, self.api_port, "the API")
        if self.settings.prefect_api_url:
            api_url = self.settings.prefect_api_url.rstrip("/")
            self.say(f"Using the Prefect server at {api_url}")
            self.use_auth_string(prefect_auth_string(self.settings), AUTH_STRING_ENV)
            if self.auth_string is None:
                self.say(f"{AUTH_STRING_ENV} is not set: calls to that Prefect server carry no credential.")
            self.wait(
                answers_200(f"{api_url}/health"), "waiting for Prefect", EXTERNAL_PREFECT_TIMEOUT_S, None
            )
        else:
            api_url = self.start_server(self.prefect_port)
        self.prefect_api = api_url
        worker, online = self.start_worker(api_url)
        api = self.start_api(api_url)
        self.wait(online, "waiting for the worker", WORKER_START_TIMEOUT_S, worker)
        self.wait(answers(f"{api_base}/api/v1/health"), "waiting for the API", API_START_TIMEOUT_S, api)
        self.say(deploy_at_start(self.settings, api_url))
        return StackAddresses(api_base, api_url, self.credential_place, self.prefect_ui_url)

    def use_auth_string(self, auth_string: str | None, place: str) -> None:
        """Hold Prefect's API credential for the worker, the API, their flow runs and the calls
        made from here; `place` says where it is kept."""
        self.auth_string = auth_string or None
        self.credential_place = place if self.auth_string else ""
        self.env.pop(SERVER_AUTH_STRING_ENV, None)
        if self.auth_string is None:
            self.env.pop(AUTH_STRING_ENV, None)
            return
        self.env[AUTH_STRING_ENV] = self.auth_string
        self.settings = self.settings.model_copy(
            update={"prefect_api_auth_string": SecretStr(self.auth_string)}
        )

    def stop(self) -> None:
        """Stop the children in reverse order of start: API, worker, server.

        The flow runs the worker was running are stopped with it; those that had not ended, or
        not yet begun, so could not report it themselves, are marked crashed before the Prefect
        server stops (a run left `Pending` would otherwise hold its pipeline for good).
        """
        stopped_runs: set[str] = set()
        for child in reversed(self.children):
            if child.name == "server":
                self.mark_crashed(stopped_runs)
            if child.name == "worker":
                stopped_runs = child.descendant_env(FLOW_RUN_ID_ENV)
            child.stop()
        if not any(child.name == "server" for child in self.children):
            self.mark_crashed(stopped_runs)

    def mark_crashed(self, run_ids: set[str]) -> None:
        """Set the runs that have not ended to Crashed (best effort: Prefect may be gone)."""
        if not run_ids or self.prefect_api is None:
            return
        crashed = {"type": "CRASHED", "name": "Crashed", "message": STOPPED_MESSAGE}
        headers = auth_headers(self.auth_string)
        for run_id in sorted(run_ids):
            try:
                url = f"{self.prefect_api}/flow_runs/{run_id}"
                run = httpx.get(url, headers=headers, timeout=5)
                state = (run.json().get("state") or {}) if run.status_code == 200 else {}
                if run.status_code == 200 and state.get("type") not in FINAL_STATES:
                    body = {"state": crashed, "force": True}
                    httpx.post(f"{url}/set_state", json=body, headers=headers, timeout=5)
            except httpx.HTTPError:
                return

    def dead_child(self) -> tuple[Child, int] | None:
        """A child that has exited, with its exit code; meanwhile, remember their descendants."""
        for child in self.children:
            code = child.exit_code()
            if code is not None:
                return child, code
            child.remember_tree()
        return None

    def spawn(
        self,
        name: str,
        command: list[str],
        env: Mapping[str, str],
        stop_signals: tuple[signal.Signals, ...] = (signal.SIGTERM,),
    ) -> Child:
        """Start a child, logging to DALGO_HOME/logs/<name>.log, and add it to the supervised ones."""
        child = Child(name, command, dict(env), self.logs / f"{name}.log", stop_signals)
        child.start()
        self.children.append(child)
        return child

    def wait(self, check: Callable[[], bool], what: str, timeout_s: float, blame: Child | None) -> None:
        """Wait for a check while watching every started child."""
        wait_until(check, what, timeout_s, self.children, blame, self.stop_event)

    def start_server(self, port: int) -> str:
        """Start the Prefect server (SQLite under DALGO_HOME unless a database URL is set), with
        Prefect's basic auth: PREFECT_SERVER_API_AUTH_STRING from the environment, else the
        credential kept in DALGO_HOME/prefect-api-auth (made on first start). Its UI calls the
        API where the server really listens, or at PREFECT_UI_URL/api when that is set."""
        host = self.prefect_host
        check_port_free(host, port, "the Prefect server")
        self.server_auth_string()
        env = dict(self.env)
        assert self.auth_string is not None
        env[SERVER_AUTH_STRING_ENV] = self.auth_string
        env.pop("PREFECT_API_URL", None)
        env.setdefault("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", "events,orphans")
        if ENCRYPTION_KEY_ENV not in os.environ:
            key, made = local_encryption_key(self.home)
            env[ENCRYPTION_KEY_ENV] = key
            self.say(
                f"{'Made' if made else 'Using'} a local Prefect encryption key at "
                f"{self.home / 'prefect-encryption.key'}; "
                f"in production set {ENCRYPTION_KEY_ENV} instead."
            )
        if DATABASE_URL_ENV in os.environ:
            database = f"from {DATABASE_URL_ENV}"
        else:
            db_path = self.home / "prefect" / "prefect.db"
            env[DATABASE_URL_ENV] = f"sqlite+aiosqlite:///{db_path}"
            database = f"SQLite at {db_path} (demo only)"
        api_url = f"http://{connect_host(host)}:{port}/api"
        if connect_host(host) != host and not self.prefect_ui_url:
            self.say(
                f"The Prefect server listens on every address, but its UI calls {api_url}: "
                f"set {UI_URL_ENV} to the address browsers open it at."
            )
        env.update(prefect_ui_env(host, port, self.prefect_ui_url or api_url.removesuffix("/api")))
        self.say(f"Starting the Prefect server on {host}:{port}, database {database} ...")
        command = [self.prefect, "server", "start", "--host", host, "--port", str(port)]
        server = self.spawn("server", command, env)
        health = answers_200(f"{api_url}/health")
        self.wait(health, "waiting for the Prefect server", SERVER_START_TIMEOUT_S, server)
        return api_url

    def server_auth_string(self) -> None:
        """Choose the credential of the Prefect server this stack starts, and say where it is."""
        if os.environ.get(SERVER_AUTH_STRING_ENV):
            self.use_auth_string(os.environ[SERVER_AUTH_STRING_ENV], SERVER_AUTH_STRING_ENV)
            self.say(f"Prefect's API credential is taken from {SERVER_AUTH_STRING_ENV}.")
            return
        path = self.home / AUTH_FILE
        auth, made = local_auth_string(self.home)
        self.use_auth_string(auth, str(path))
        self.say(
            f"{'Made' if made else 'Using'} Prefect's API credential at {path} (mode 0600); "
            f"in production set {SERVER_AUTH_STRING_ENV} instead."
        )

    def start_worker(self, api_url: str) -> tuple[Child, Callable[[], bool]]:
        """Start the process worker of the work pool; returns it and the check that it is online.

        The worker has a stable name, so the check waits for a heartbeat newer than the one the
        pool had before (a stopped worker of the same name stays listed for a while).
        """
        pool = self.settings.work_pool
        name = f"{pool}-{socket.gethostname()}"
        env = {**self.env, "PREFECT_API_URL": api_url, "PATH": worker_path(self.env.get("PATH"))}
        for key, value in WORKER_ENV.items():
            env.setdefault(key, value)
        prepare_work_pool(self.settings, api_url)
        seen: dict[str, str | None] = {}

        def read_before() -> bool:
            seen[name] = worker_heartbeats(api_url, pool, name, self.auth_string).get(name)
            return True

        self.wait(read_before, f"reading the workers of pool {pool!r}", WORKER_START_TIMEOUT_S, None)
        before = seen[name]
        command = [self.prefect, "worker", "start", "--pool", pool, "--type", "process", "--name", name]
        command += ["--limit", str(worker_limit(self.settings))]
        worker = self.spawn("worker", command, env, stop_signals=(signal.SIGTERM, signal.SIGTERM))
        return worker, worker_online(api_url, pool, name, before, self.auth_string)

    def start_api(self, api_url: str) -> Child:
        """Start the API under uvicorn, in DALGO_API_WORKERS processes (dalgo.api.workers)."""
        env = {**self.env, "PREFECT_API_URL": api_url}
        command = [sys.executable, "-m", "uvicorn", *uvicorn_options(self.settings)]
        return self.spawn("api", [*command, "--host", self.host, "--port", str(self.api_port)], env)


def prefect_ui_env(host: str, port: int, ui_url: str) -> dict[str, str]:
    """The variables that make a Prefect server's UI call its API at `ui_url`/api (the UI reads
    that address from /ui-settings, and would otherwise say 127.0.0.1:4200): an operator's own
    PREFECT_UI_API_URL is kept."""
    return {
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        UI_URL_ENV: ui_url,
        UI_API_URL_ENV: os.environ.get(UI_API_URL_ENV) or f"{ui_url}/api",
    }
