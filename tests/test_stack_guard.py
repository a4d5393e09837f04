"""The guard every child of the local stack runs under (dalgo/stack/guard.py), with real processes:
a supervisor started here spawns a `Child` whose command starts a grandchild in a session of its
own (as a process worker starts a flow run), then the supervisor is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import psutil

from dalgo.stack.children import Child, exit_text

GONE_WITHIN_S = 15.0

SUPERVISOR = """
import sys, time
from pathlib import Path

from dalgo.stack.children import Child

child = Child("worker", [sys.executable, "-c", sys.argv[2]], {}, Path(sys.argv[1]))
child.start()
print(child.process.pid, flush=True)
time.sleep(600)
"""

WORKER = """
import subprocess, sys, time

run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
print("flow-run", run.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _flow_run_pid(log: Path, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines() if log.exists() else []:
            if line.startswith("flow-run "):
                return int(line.split()[1])
        time.sleep(0.1)
    raise AssertionError(f"no flow run started:\n{log.read_text() if log.exists() else ''}")


def test_kill_9_of_the_supervisor_ends_the_child_and_its_own_session_grandchild(tmp_path: Path) -> None:
    """The guard outlives nobody: with its supervisor SIGKILLed, the child and the grandchild in a
    session of its own (which a process-group kill would miss) end within seconds."""
    log = tmp_path / "worker.log"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(log), WORKER], stdout=subprocess.PIPE, text=True
    )
    assert supervisor.stdout is not None
    guard = int(supervisor.stdout.readline())
    flow_run = _flow_run_pid(log)
    command = [p.pid for p in psutil.Process(guard).children()]
    watched = [guard, *command, flow_run]
    try:
        assert psutil.Process(flow_run).ppid() in command
        assert os.getsid(flow_run) == flow_run != os.getsid(guard)
        assert all(_alive(pid) for pid in watched)
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(timeout=30)
        deadline = time.monotonic() + GONE_WITHIN_S
        while any(_alive(pid) for pid in watched) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in watched if _alive(pid)] == []
    finally:
        for pid in watched:
            with suppress(psutil.Error):
                psutil.Process(pid).kill()
        supervisor.wait(timeout=30)


def test_the_guard_ends_as_its_command_ended(tmp_path: Path) -> None:
    """The supervisor sees the command's exit code, or the signal that ended it, through the guard."""
    exited = Child("exits", [sys.executable, "-c", "raise SystemExit(3)"], {}, tmp_path / "exits.log")
    killed = Child(
        "killed", [sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"], {}, tmp_path / "k.log"
    )
    for child in (exited, killed):
        child.start()
        assert child.process is not None
        child.process.wait(timeout=60)
    assert exited.exit_code() == 3
    assert killed.exit_code() == -signal.SIGKILL
    assert exit_text(-signal.SIGKILL) == "signal SIGKILL"
