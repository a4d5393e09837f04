"""`dalgo serve` on a port another process holds: it names the port and the process, and exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.network import free_port

HOLD_PORT = """
import socket, sys, time

sock = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
time.sleep(600)
"""
SERVE_TIMEOUT_S = 120


@pytest.fixture
def holder() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A real process listening on a free port (the port-holder-marker argument names it)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_PORT, str(port), "port-holder-marker"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "listening"
    try:
        yield proc, port
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _serve(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DALGO_"))}
    env["DALGO_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, "-m", "dalgo.cli", "serve", *options],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SERVE_TIMEOUT_S,
    )


@pytest.mark.parametrize(
    ("option", "part"), [("--api-port", "the API"), ("--prefect-port", "the Prefect server")]
)
def test_a_taken_port_is_named_with_its_process(
    tmp_path: Path, holder: tuple[subprocess.Popen[str], int], option: str, part: str
) -> None:
    """The API's or the Prefect server's port held by another process: `dalgo serve` says which
    port, which process (pid and command line) holds it, starts nothing and exits 1."""
    proc, port = holder
    other = "--prefect-port" if option == "--api-port" else "--api-port"
    result = _serve(tmp_path, option, str(port), other, str(free_port()))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, output
    assert f"{part} cannot listen on 127.0.0.1:{port}: port {port} is taken by process {proc.pid} (" in output
    assert "port-holder-marker" in output
    assert "Starting the Prefect server" not in output
    assert proc.poll() is None
