"""The local stack behind `dalgo serve`: a Prefect server, a process worker and the API, supervised.

`run_stack` starts each part as a child process in its own process group, waits until each one
answers, prints where everything listens and then stays in the foreground. Ctrl-C or SIGTERM stops
every child (and every process a child started, such as flow runs); the death of one child stops
the others and makes the exit code non-zero.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import psutil
from cryptography.fernet import Fernet
from rich.console import Console
from rich.markup import escape

from dalgo.settings import Settings

ENCRYPTION_KEY_ENV = "PREFECT_SERVER_ENCRYPTION_KEY"
DATABASE_URL_ENV = "PREFECT_API_DATABASE_CONNECTION_URL"

SERVER_START_TIMEOUT_S = 90.0
WORKER_START_TIMEOUT_S = 60.0
API_START_TIMEOUT_S = 60.0
EXTERNAL_PREFECT_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
POLL_INTERVAL_S = 0.5
WORKER_QUERY_SECONDS = "2"
API_APP = "dalgo.api.main:create_app"

console = Console(highlight=False, soft_wrap=True)


class StartupError(Exception):
    """A part of the stack did not come up; `child` is the one to blame, when known."""

    def __init__(self, message: str, child: Child | None = None) -> None:
        super().__init__(message)
        self.child = child


class StopRequestedError(Exception):
    """A stop was requested (SIGINT or SIGTERM) while the stack was starting."""


@dataclass
class Child:
    """One supervised child process, its command, environment and log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    stop_signals: tuple[signal.Signals, ...] = (signal.SIGTERM,)
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0
    known: dict[int, psutil.Process] = field(default_factory=dict)

    def start(self) -> None:
        """Start the command in a new session, its output appended to the log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.log_offset = log.tell()
            header = f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.command)}\n"
            log.write(header.encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def exit_code(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def remember_tree(self) -> None:
        """Record the process and all its current descendants, to make sure they end on stop."""
        if self.process is None:
            return
        self.known = {pid: proc for pid, proc in self.known.items() if _alive(proc)}
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                self.known.setdefault(proc.pid, proc)
        except psutil.Error:
            pass

    def signal_group(self, sig: signal.Signals) -> None:
        """Send a signal to the child's process group (which its descendants share by default)."""
        if self.process is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def tail(self, lines: int = 30) -> str:
        """The last lines this child wrote to its log since it was started."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop the child and everything it started, leaving no process behind.

        Descendants in a process group of their own (a process worker's flow runs) are stopped
        first, while the child still runs, so that their runs are reported as crashed. Then the
        child's group gets each of `stop_signals` in turn, then SIGKILL; last, any recorded
        descendant that outlived it all is killed.
        """
        if self.process is None:
            return
        self.remember_tree()
        _end_processes(
            [p for p in self.known.values() if _alive(p) and _pgid(p) != self.process.pid], grace_s
        )
        for sig in self.stop_signals:
            if self.exit_code() is not None:
                break
            self.signal_group(sig)
            self._wait(grace_s)
        if self.exit_code() is None:
            self.signal_group(signal.SIGKILL)
            self._wait(grace_s)
        self.signal_group(signal.SIGKILL)
        _end_processes([p for p in self.known.values() if _alive(p)])

    def _wait(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the process to end, recording descendants meanwhile."""
        deadline = time.monotonic() + timeout_s
        while self.exit_code() is None and time.monotonic() < deadline:
            self.remember_tree()
            time.sleep(0.2)


def _exit_text(code: int) -> str:
    """An exit code in words: `code 1`, or `signal SIGKILL` for a negative code."""
    if code < 0:
        with suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def _alive(proc: psutil.Process) -> bool:
    """Whether a process still runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _pgid(proc: psutil.Process) -> int | None:
    """The process group of a process, or None when it is gone."""
    try:
        return os.getpgid(proc.pid)
    except OSError:
        return None


def _end_processes(procs: list[psutil.Process], grace_s: float = 5.0) -> None:
    """SIGTERM the given processes, then SIGKILL those still alive after `grace_s`."""
    for proc in procs:
        with suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace_s)


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


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as DALGO_* variables, so children see exactly what the supervisor sees."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None or name == "prefect_api_url":
            continue
        env[f"DALGO_{name.upper()}"] = str(value)
    env["DALGO_HOME"] = str(settings.resolved_home)
    return env


def _connect_host(host: str) -> str:
    """An address to reach a server bound to `host` from this machine (as used in a URL)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


def _check_port_free(host: str, port: int, what: str) -> None:
    """Fail at once, rather than after a slow start, when a port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host or "0.0.0.0", port), family=family):  # noqa: S104
            pass
    except OSError as error:
        raise StartupError(f"{what} cannot listen on {host}:{port}: {error.strerror}") from error


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGINT and SIGTERM for the duration (only possible in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _wait_until(
    check: Callable[[], bool],
    what: str,
    timeout_s: float,
    watched: list[Child],
    blame: Child | None,
    stop: threading.Event,
) -> None:
    """Poll `check` until it is true; fail if a watched child exits, on timeout, or on a stop."""
    deadline = time.monotonic() + timeout_s
    while True:
        if stop.is_set():
            raise StopRequestedError
        for child in watched:
            code = child.exit_code()
            if code is not None:
                raise StartupError(f"{child.name} exited ({_exit_text(code)}) while {what}", child)
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise StartupError(f"gave up after {timeout_s:.0f} s {what}", blame)
        stop.wait(POLL_INTERVAL_S)


def _answers_200(url: str) -> Callable[[], bool]:
    """A check that `GET url` answers 200."""
    return lambda: httpx.get(url, timeout=5).status_code == 200


def _answers(url: str) -> Callable[[], bool]:
    """A check that `GET url` answers at all."""
    return lambda: bool(httpx.get(url, timeout=5).status_code)


def _worker_heartbeats(api_url: str, pool: str, name: str) -> dict[str, str | None]:
    """Last heartbeat time of each worker of the pool, by name (empty if the pool does not exist)."""
    response = httpx.post(f"{api_url}/work_pools/{pool}/workers/filter", json={}, timeout=5)
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    return {w["name"]: w.get("last_heartbeat_time") for w in response.json() if w["name"] == name}


def _worker_online(api_url: str, pool: str, name: str, before: str | None) -> Callable[[], bool]:
    """A check that the named worker is listed for the pool with a heartbeat newer than `before`."""

    def check() -> bool:
        beats = _worker_heartbeats(api_url, pool, name)
        return name in beats and beats[name] is not None and beats[name] != before

    return check


class _Stack:
    """The children of one `run_stack` call, started in order and stopped in reverse."""

    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        self.settings = settings
        self.home = settings.resolved_home
        self.logs = self.home / "logs"
        self.stop_event = stop
        self.children: list[Child] = []
        self.prefect = str(Path(sys.executable).parent / "prefect")
        self.env = {**os.environ, **settings_env(settings)}
        self.env["PREFECT_HOME"] = str(self.home / "prefect")

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

    def wait(
        self,
        check: Callable[[], bool],
        what: str,
        timeout_s: float,
        blame: Child | None,
    ) -> None:
        """Wait for a check while watching every started child."""
        _wait_until(check, what, timeout_s, self.children, blame, self.stop_event)

    def start_server(self, port: int) -> str:
        """Start the Prefect server (SQLite under DALGO_HOME unless a database URL is set)."""
        _check_port_free("127.0.0.1", port, "the Prefect server")
        env = dict(self.env)
        env.pop("PREFECT_API_URL", None)
        if ENCRYPTION_KEY_ENV not in os.environ:
            key, made = local_encryption_key(self.home)
            env[ENCRYPTION_KEY_ENV] = key
            console.print(
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
        console.print(f"Starting the Prefect server on port {port}, database {database} ...")
        server = self.spawn(
            "server",
            [
                self.prefect,
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env,
        )
        api_url = f"http://127.0.0.1:{port}/api"
        self.wait(
            _answers_200(f"{api_url}/health"),
            "waiting for the Prefect server",
            SERVER_START_TIMEOUT_S,
            server,
        )
        return api_url

    def start_worker(self, api_url: str) -> tuple[Child, Callable[[], bool]]:
        """Start the process worker of the work pool; returns it and the check that it is online.

        The worker has a stable name, so the check waits for a heartbeat newer than the one the
        pool had before (a stopped worker of the same name stays listed for a while).
        """
        pool = self.settings.work_pool
        name = f"{pool}-{socket.gethostname()}"
        env = {**self.env, "PREFECT_API_URL": api_url}
        env.setdefault("PREFECT_WORKER_QUERY_SECONDS", WORKER_QUERY_SECONDS)
        try:
            before = _worker_heartbeats(api_url, pool, name).get(name)
        except httpx.HTTPError as error:
            raise StartupError(f"could not read the workers of pool {pool!r}: {error}") from error
        worker = self.spawn(
            "worker",
            [
                self.prefect,
                "worker",
                "start",
                "--pool",
                pool,
                "--type",
                "process",
                "--name",
                name,
            ],
            env,
            stop_signals=(signal.SIGTERM, signal.SIGTERM),
        )
        return worker, _worker_online(api_url, pool, name, before)

    def start_api(self, api_url: str, host: str, port: int) -> Child:
        """Start the API under uvicorn."""
        env = {**self.env, "PREFECT_API_URL": api_url}
        command = [sys.executable, "-m", "uvicorn", API_APP, "--factory"]
        return self.spawn("api", [*command, "--host", host, "--port", str(port)], env)

    def stop_all(self) -> None:
        """Stop the children in reverse order of start: API, worker, server."""
        for child in reversed(self.children):
            child.stop()


def run_stack(
    settings: Settings,
    api_port: int = 8000,
    prefect_port: int = 4200,
    host: str = "127.0.0.1",
) -> int:
    """Run the local stack in the foreground until SIGINT/SIGTERM or a child's death.

    Returns 0 after a requested stop, 1 when a part failed to start or died.
    """
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    stack = _Stack(settings, stop)
    with _stop_on_signals(stop):
        try:
            return _run(stack, settings, api_port, prefect_port, host)
        finally:
            console.print("Stopping ...")
            stack.stop_all()
            console.print("Stopped.")


def _run(stack: _Stack, settings: Settings, api_port: int, prefect_port: int, host: str) -> int:
    """Start every part, print the addresses, then supervise until a stop or a death."""
    console.print(f"DALGO_HOME is {stack.home}; the children log to {stack.logs}/")
    api_base = f"http://{_connect_host(host)}:{api_port}"
    try:
        _check_port_free(host, api_port, "the API")
        if settings.prefect_api_url:
            api_url = settings.prefect_api_url.rstrip("/")
            console.print(f"Using the Prefect server at {api_url}")
            health = _answers_200(f"{api_url}/health")
            stack.wait(health, "waiting for Prefect", EXTERNAL_PREFECT_TIMEOUT_S, None)
        else:
            api_url = stack.start_server(prefect_port)
        worker, worker_online = stack.start_worker(api_url)
        api = stack.start_api(api_url, host, api_port)
        stack.wait(worker_online, "waiting for the worker", WORKER_START_TIMEOUT_S, worker)
        api_up = _answers(f"{api_base}/api/v1/health")
        stack.wait(api_up, "waiting for the API", API_START_TIMEOUT_S, api)
    except StopRequestedError:
        return 0
    except StartupError as error:
        console.print(f"[red]The stack did not start: {escape(str(error))}.[/red]")
        if error.child is not None:
            console.print(f"Last lines of {error.child.log_path}:", markup=False)
            console.print(error.child.tail(), markup=False)
        return 1
    _print_ready(settings, stack, api_url, api_base)
    return _supervise(stack)


def _print_ready(settings: Settings, stack: _Stack, api_url: str, api_base: str) -> None:
    """Say where each part listens, and whether the API finds its dependencies healthy."""
    lines = [
        "The stack is up.",
        f"  API          {api_base}  (docs: {api_base}/docs)",
        f"  Prefect UI   {api_url.removesuffix('/api')}",
        f"  Prefect API  {api_url}",
        f"  Work pool    {settings.work_pool}",
        f"  DALGO_HOME   {stack.home}",
        f"  Logs         {stack.logs}/",
    ]
    try:
        health = httpx.get(f"{api_base}/api/v1/health", timeout=10)
        if health.status_code != 200:
            lines.append(f"  API health answered {health.status_code}: {health.text[:300]}")
    except httpx.HTTPError as error:
        lines.append(f"  API health did not answer: {error}")
    lines.append("Press Ctrl-C to stop.")
    console.print("\n".join(lines), markup=False)


def _supervise(stack: _Stack) -> int:
    """Wait for a stop signal (returns 0) or the death of a child (returns 1)."""
    while not stack.stop_event.wait(POLL_INTERVAL_S):
        for child in stack.children:
            code = child.exit_code()
            if code is not None:
                console.print(f"[red]{child.name} exited unexpectedly ({_exit_text(code)}).[/red]")
                console.print(f"Last lines of {child.log_path}:", markup=False)
                console.print(child.tail(), markup=False)
                return 1
            child.remember_tree()
    return 0
