"""What the stack waits for while it starts: ports, health routes, a worker's heartbeat, signals."""

from __future__ import annotations

import errno
import ipaddress
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import httpx
import psutil

from dalgo.deployments.client import auth_headers
from dalgo.stack.children import Child, exit_text

POLL_INTERVAL_S = 0.5


class StartupError(Exception):
    """A part of the stack did not come up; `child` is the one to blame, when known."""

    def __init__(self, message: str, child: Child | None = None) -> None:
        super().__init__(message)
        self.child = child


class StopRequestedError(Exception):
    """A stop was requested (SIGINT or SIGTERM) while the stack was starting or working."""


def connect_host(host: str) -> str:
    """An address to reach a server bound to `host` from this machine (as used in a URL)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


def check_port_free(host: str, port: int, what: str) -> None:
    """Fail at once, rather than after a slow start, when a port is taken, saying by what."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host or "0.0.0.0", port), family=family):  # noqa: S104
            pass
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise StartupError(f"{what} cannot listen on {host}:{port}: {error.strerror}") from error
        raise StartupError(f"{what} cannot listen on {host}:{port}: {port_holders(port)}") from error


def port_holders(port: int) -> str:
    """Which processes listen on a TCP port, in words (pid and command line)."""
    pids = sorted(
        {
            conn.pid
            for conn in psutil.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid
        }
    )
    if not pids:
        return f"port {port} is taken by a process this user cannot see"
    return f"port {port} is taken by " + "; ".join(describe_process(pid) for pid in pids)


def describe_process(pid: int) -> str:
    """`process 1234 (its command line)`, or just the pid when the process is gone or hidden."""
    try:
        command = " ".join(" ".join(psutil.Process(pid).cmdline()).split())
    except psutil.Error:
        return f"process {pid}"
    if len(command) > 200:
        command = command[:197] + "..."
    return f"process {pid} ({command})"


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
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


def wait_until(
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
                raise StartupError(f"{child.name} exited ({exit_text(code)}) while {what}", child)
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise StartupError(f"gave up after {timeout_s:.0f} s {what}", blame)
        stop.wait(POLL_INTERVAL_S)


def answers_200(url: str) -> Callable[[], bool]:
    """A check that `GET url` answers 200 (Prefect answers /health without its credential)."""
    return lambda: httpx.get(url, timeout=5).status_code == 200


def answers(url: str) -> Callable[[], bool]:
    """A check that `GET url` answers at all."""
    return lambda: bool(httpx.get(url, timeout=5).status_code)


def worker_heartbeats(api_url: str, pool: str, name: str, auth_string: str | None) -> dict[str, str | None]:
    """Last heartbeat time of each worker of the pool, by name (empty if the pool does not exist).
    `auth_string` is Prefect's API credential (None for a server without auth)."""
    response = httpx.post(
        f"{api_url}/work_pools/{pool}/workers/filter",
        json={},
        headers=auth_headers(auth_string),
        timeout=5,
    )
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    return {w["name"]: w.get("last_heartbeat_time") for w in response.json() if w["name"] == name}


def worker_online(
    api_url: str, pool: str, name: str, before: str | None, auth_string: str | None
) -> Callable[[], bool]:
    """A check that the named worker is listed for the pool with a heartbeat newer than `before`."""

    def check() -> bool:
        beats = worker_heartbeats(api_url, pool, name, auth_string)
        return name in beats and beats[name] is not None and beats[name] != before

    return check
