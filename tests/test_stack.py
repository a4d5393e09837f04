"""`dalgo serve` for real: the whole local stack as a subprocess, then a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import psutil

from dalgo.deployments.client import auth_headers
from tests.support.network import free_port
from tests.support.processes import ProcessOutput, alive, describe, process_tree
from tests.support.stack import RUN_TIMEOUT_S, SLEEPER_FLOW, START_RUN

READY_TIMEOUT_S = 300
STOP_TIMEOUT_S = 60


def test_serve_starts_the_stack_and_stops_every_process(tmp_path: Path) -> None:
    """`dalgo serve` brings up a Prefect server, a worker and the API, and leaves nothing behind.

    With no PREFECT_API_URL it starts its own Prefect server (SQLite under a fresh DALGO_HOME), makes
    a local encryption key and Prefect's API credential and says where (never what) they are,
    prints the addresses, and every part answers: the API's health route, the Prefect API (401
    without the credential), and a worker registered for the work pool. A flow run started
    on that pool is running when SIGTERM reaches `dalgo serve`; it then exits 0 within a bounded
    time, and no process of its tree (server, worker, flow run, API) is alive afterwards.
    """
    home = tmp_path / "home"
    api_port, prefect_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DALGO_"))}
    env["DALGO_HOME"] = str(home)
    command = [sys.executable, "-m", "dalgo.cli", "serve"]
    command += ["--api-port", str(api_port), "--prefect-port", str(prefect_port)]
    serve = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert serve.stdout is not None
    output = ProcessOutput(serve.stdout)
    tree: list[psutil.Process] = []
    try:
        output.wait_for("Press Ctrl-C to stop.", READY_TIMEOUT_S, serve)
        text = output.text

        key_file = home / "prefect-encryption.key"
        assert key_file.is_file()
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert f"Made a local Prefect encryption key at {key_file}" in text
        assert "PREFECT_SERVER_ENCRYPTION_KEY" in text

        auth_file = home / "prefect-api-auth"
        assert auth_file.stat().st_mode & 0o777 == 0o600
        auth_string = auth_file.read_text().strip()
        user, _, password = auth_string.partition(":")
        assert user == "dalgo" and len(password) >= 32
        assert f"Made Prefect's API credential at {auth_file}" in text
        assert password not in text
        sign_in = re.escape(f"(sign in with the user:password in {auth_file})")
        assert re.search(rf"^\s*Prefect UI\s+http://\S+\s+{sign_in}$", text, re.MULTILINE), text

        api_match = re.search(r"^\s*API\s+(http://\S+)\s+\(docs: (\S+)\)", text, re.MULTILINE)
        prefect_match = re.search(r"^\s*Prefect API\s+(http://\S+)", text, re.MULTILINE)
        assert api_match and prefect_match, text
        api_base, prefect_api = api_match[1], prefect_match[1]
        assert api_base == f"http://127.0.0.1:{api_port}"
        assert api_match[2] == f"{api_base}/docs"
        assert prefect_api == f"http://127.0.0.1:{prefect_port}/api"
        assert re.search(r"^\s*Work pool\s+dalgo$", text, re.MULTILINE)
        assert str(home) in text

        health = httpx.get(f"{api_base}/api/v1/health", timeout=30)
        assert health.status_code == 200, health.text
        assert httpx.get(f"{prefect_api}/health", timeout=30).status_code == 200
        workers_url = f"{prefect_api}/work_pools/dalgo/workers/filter"
        assert httpx.post(workers_url, json={}, timeout=30).status_code == 401
        workers = httpx.post(workers_url, json={}, headers=auth_headers(auth_string), timeout=30)
        assert workers.status_code == 200
        assert [w for w in workers.json() if w["status"] == "ONLINE"], workers.json()

        flows = tmp_path / "flows"
        flows.mkdir()
        (flows / "sleeper.py").write_text(SLEEPER_FLOW)
        run_env = {
            **env,
            "PREFECT_API_URL": prefect_api,
            "PREFECT_API_AUTH_STRING": auth_string,
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

        tree = process_tree(serve.pid)
        commands = [describe(p) for p in tree]
        assert len(tree) >= 5, commands
        assert any("prefect.engine" in c for c in commands), commands
        assert not any("_workspace_supervisor" in c for c in commands), commands

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=STOP_TIMEOUT_S) == 0, output.text
        deadline = time.monotonic() + 10
        while any(alive(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = [describe(p) for p in tree if alive(p)]
        assert survivors == []
        assert "Crashed" in (home / "logs" / "worker.log").read_text()
    finally:
        if serve.poll() is None:
            tree += process_tree(serve.pid)
        for proc in tree:
            if alive(proc):
                with suppress(psutil.Error):
                    proc.kill()
        serve.wait(timeout=30)
