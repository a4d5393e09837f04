"""The guard each child of the local stack runs under, so that nothing outlives the supervisor.

`python .../dalgo/stack/guard.py <supervisor pid> <command...>` (run by path, so that it imports
nothing of Dalgo or Prefect and starts in a few milliseconds):

- it asks the kernel for a signal when its parent dies (`PR_SET_PDEATHSIG`), then checks that its
  parent still is the supervisor (which may have died before the request was made);
- it becomes a child subreaper (`PR_SET_CHILD_SUBREAPER`): every process the command starts, at
  any depth and in any session (a process worker starts each flow run in a session of its own),
  stays its descendant when its own parent ends, instead of moving to init;
- it runs the command (itself with `PR_SET_PDEATHSIG` = SIGKILL, should the guard be killed) and
  ends, with the command's status, once the command has ended and it has ended all the command
  left behind;
- when the supervisor dies, however it dies (SIGKILL, the OOM killer), it ends the command and all
  its descendants: SIGTERM, then SIGKILL after a grace.

A SIGTERM or SIGINT while the supervisor lives is the supervisor stopping the child's process group
(which the command shares): the command has it too, and the guard waits for it to end.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from types import FrameType

import psutil

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
LEFTOVER_GRACE_S = 5.0
EXIT_SUPERVISOR_GONE = 70


class SupervisorGoneError(Exception):
    """The supervisor that started this guard has died."""


def prctl(option: int, value: int) -> None:
    """Call Linux's prctl(2) with one argument; raise OSError when it fails."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def die_with_parent(sig: signal.Signals) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies."""
    prctl(PR_SET_PDEATHSIG, int(sig))


def kill_with_guard() -> None:
    """In the command's process, before it runs: die with the guard (SIGKILL)."""
    die_with_parent(signal.SIGKILL)


def descendants() -> list[psutil.Process]:
    """Every process below this one (all of them, since this process is a subreaper)."""
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def reap() -> None:
    """Collect every ended child (orphans of the command are reparented here) without blocking."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_all(grace_s: float = LEFTOVER_GRACE_S) -> None:
    """SIGTERM every descendant, then SIGKILL those left after `grace_s`, reaping them all."""
    procs = descendants()
    for proc in procs:
        with suppress(psutil.Error):
            proc.terminate()
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        reap()
        procs = descendants()
        if not procs:
            return
        time.sleep(0.1)
    while procs:
        for proc in procs:
            with suppress(psutil.Error):
                proc.kill()
        time.sleep(0.05)
        reap()
        procs = descendants()


def run(supervisor: int, command: list[str]) -> int:
    """Run `command` under the guard; return what the guard should exit with (a wait status's
    exit code, or minus the signal that ended the command)."""

    def on_stop(signum: int, frame: FrameType | None) -> None:
        if os.getppid() != supervisor:
            raise SupervisorGoneError

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_stop)
    die_with_parent(signal.SIGTERM)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    if os.getppid() != supervisor:
        return EXIT_SUPERVISOR_GONE
    try:
        child = subprocess.Popen(command, preexec_fn=kill_with_guard)
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == child.pid:
                code = os.waitstatus_to_exitcode(status)
                child.returncode = code
                break
        end_all()
        return code
    except SupervisorGoneError:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        end_all()
        return EXIT_SUPERVISOR_GONE


def main(argv: list[str]) -> None:
    """Parse `<supervisor pid> <command...>`, run it, and end as the command ended."""
    if len(argv) < 3 or not argv[1].isdigit():
        sys.exit(f"usage: {argv[0]} <supervisor pid> <command...>")
    code = run(int(argv[1]), argv[2:])
    if code < 0:
        sig = -code
        with suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        code = 128 + sig
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv)
