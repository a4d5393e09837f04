"""`dalgo serve` on ports of its own: the Prefect UI finds its API there, and a `kill -9` of the
supervisor leaves no process of the stack (flow runs included) and frees every port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import psutil

from tests.support.network import free_port
from tests.support.processes import ProcessOutput, alive, describe, process_tree
from tests.support.stack import RUN_TIMEOUT_S, SLEEPER_FLOW, START_RUN

GONE_WITHIN_S = 15.0
READY_TIMEOUT_S = 600
"""Above the sum of the stack's own start timeouts, so that a slow start fails with its reason."""


def _serve(tmp_path: Path, env: dict[str, str], *options: str) -> tuple[subprocess.Popen[str], ProcessOutput]:
    """`dalgo serve` started and ready (killed, with all it started, when it does not get ready)."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "dalgo.cli", "serve", *options],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert serve.stdout is not None
    output = ProcessOutput(serve.stdout)
    try:
        output.wait_for("Press Ctrl-C to stop.", READY_TIMEOUT_S, serve)
    except BaseException:
        serve.kill()  # its guards end the parts it started
        serve.wait(timeout=30)
        raise
    return serve, output


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DALGO_"))}
    env["DALGO_HOME"] = str(home)
    return env


def _stack_processes(home: Path) -> list[str]:
    """Every process on the machine whose environment names this DALGO_HOME."""
    found = []
    for proc in psutil.process_iter():
        with suppress(psutil.Error):
            if proc.environ().get("DALGO_HOME") == str(home) and alive(proc):
                found.append(describe(proc))
    return found


def _port_free(port: int) -> bool:
    """Nothing listens on the port, and a server can bind it."""
    if any(c.laddr and c.laddr.port == port for c in psutil.net_connections("tcp") if c.status == "LISTEN"):
        return False
    try:
        with socket.create_server(("127.0.0.1", port)):
            return True
    except OSError:
        return False


def _kill_all(procs: list[psutil.Process]) -> None:
    for proc in procs:
        if alive(proc):
            with suppress(psutil.Error):
                proc.kill()


def test_kill_9_of_serve_leaves_nothing_behind(tmp_path: Path) -> None:
    """On ports other than 4200, /ui-settings gives the UI the API's real address and asks for the
    credential (BASIC). With a flow run going (in a session of its own, as a process worker starts
    it), SIGKILL to `dalgo serve` ends the server, the worker, the API and the flow run within a few
    seconds: no process of the machine names its DALGO_HOME, and both ports are free again."""
    home = tmp_path / "home"
    api_port, prefect_port = free_port(), free_port()
    env = _clean_env(home)
    serve, output = _serve(tmp_path, env, "--api-port", str(api_port), "--prefect-port", str(prefect_port))
    tree: list[psutil.Process] = []
    try:
        prefect_ui = f"http://127.0.0.1:{prefect_port}"
        assert f"Prefect UI   {prefect_ui}  (sign in with" in output.text
        settings = httpx.get(f"{prefect_ui}/ui-settings", timeout=30).json()
        assert settings["api_url"] == f"{prefect_ui}/api"
        assert settings["auth"] == "BASIC"

        flows = tmp_path / "flows"
        flows.mkdir()
        (flows / "sleeper.py").write_text(SLEEPER_FLOW)
        run_env = {
            **env,
            "PREFECT_API_URL": f"{prefect_ui}/api",
            "PREFECT_API_AUTH_STRING": (home / "prefect-api-auth").read_text().strip(),
            "PREFECT_HOME": str(tmp_path / "client"),
        }
        started = subprocess.run(
            [sys.executable, "-c", START_RUN, str(flows), "dalgo", str(RUN_TIMEOUT_S)],
            cwd=tmp_path,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S + 60,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        run_id = started.stdout.strip().splitlines()[-1]

        tree = process_tree(serve.pid)
        flow_runs = []
        for proc in tree:
            with suppress(psutil.Error):
                if proc.environ().get("PREFECT__FLOW_RUN_ID") == run_id:
                    flow_runs.append(proc)
        assert flow_runs, [describe(p) for p in tree]
        assert any(os.getpgid(p.pid) == p.pid for p in flow_runs), "a flow run leads a group of its own"

        killed_at = time.monotonic()
        serve.send_signal(signal.SIGKILL)
        assert serve.wait(timeout=30) == -signal.SIGKILL
        while time.monotonic() - killed_at < GONE_WITHIN_S:
            if not _stack_processes(home) and _port_free(api_port) and _port_free(prefect_port):
                break
            time.sleep(0.2)
        assert [describe(p) for p in tree if alive(p)] == []
        assert _stack_processes(home) == []
        assert _port_free(api_port) and _port_free(prefect_port)
    finally:
        if serve.poll() is None:
            tree += process_tree(serve.pid)
            serve.kill()
        _kill_all(tree)
        serve.wait(timeout=30)


def test_the_prefect_ui_calls_its_public_address(tmp_path: Path) -> None:
    """With PREFECT_UI_URL (a proxy in front of Prefect), the UI's /ui-settings sends browsers to
    <that address>/api and `dalgo serve` prints that address as the Prefect UI."""
    home = tmp_path / "home"
    api_port, prefect_port = free_port(), free_port()
    env = {**_clean_env(home), "PREFECT_UI_URL": "https://prefect.example.org/"}
    serve, output = _serve(tmp_path, env, "--api-port", str(api_port), "--prefect-port", str(prefect_port))
    tree = process_tree(serve.pid)
    try:
        assert "Prefect UI   https://prefect.example.org  (sign in with" in output.text
        assert f"Prefect API  http://127.0.0.1:{prefect_port}/api" in output.text
        settings = httpx.get(f"http://127.0.0.1:{prefect_port}/ui-settings", timeout=30).json()
        assert settings["api_url"] == "https://prefect.example.org/api"
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0, output.text
        assert _stack_processes(home) == []
    finally:
        if serve.poll() is None:
            tree += process_tree(serve.pid)
            serve.kill()
        _kill_all(tree)
        serve.wait(timeout=30)
