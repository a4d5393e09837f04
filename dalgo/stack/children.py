"""One supervised child process of the local stack, and how to end it with all it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

STOP_GRACE_S = 10.0
GUARD = Path(__file__).with_name("guard.py")


@dataclass
class Child:
    """One supervised child process, its command, environment and log file; `process` is its
    guard, whose process group the command shares."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    stop_signals: tuple[signal.Signals, ...] = (signal.SIGTERM,)
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0
    known: dict[int, psutil.Process] = field(default_factory=dict)

    def start(self) -> None:
        """Start the command under its guard (`dalgo.stack.guard`, which ends the command and all
        it started when this process dies) in a new session, its output appended to the log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.log_offset = log.tell()
            header = f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.command)}\n"
            log.write(header.encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-P", str(GUARD), str(os.getpid()), *self.command],
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
        self.known = {pid: proc for pid, proc in self.known.items() if alive(proc)}
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                self.known.setdefault(proc.pid, proc)
        except psutil.Error:
            pass

    def descendant_env(self, variable: str) -> set[str]:
        """The values of an environment variable among the child's descendants (a process worker
        gives each flow run process its run id as PREFECT__FLOW_RUN_ID)."""
        self.remember_tree()
        found: set[str] = set()
        for proc in self.known.values():
            with suppress(psutil.Error):
                value = proc.environ().get(variable)
                if value:
                    found.add(value)
        return found

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
        end_processes([p for p in self.known.values() if alive(p) and pgid(p) != self.process.pid], grace_s)
        for sig in self.stop_signals:
            if self.exit_code() is not None:
                break
            self.signal_group(sig)
            self._wait(grace_s)
        if self.exit_code() is None:
            self.signal_group(signal.SIGKILL)
            self._wait(grace_s)
        self.signal_group(signal.SIGKILL)
        end_processes([p for p in self.known.values() if alive(p)])

    def _wait(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the process to end, recording descendants meanwhile."""
        deadline = time.monotonic() + timeout_s
        while self.exit_code() is None and time.monotonic() < deadline:
            self.remember_tree()
            time.sleep(0.2)


def exit_text(code: int) -> str:
    """An exit code in words: `code 1`, or `signal SIGKILL` for a negative code."""
    if code < 0:
        with suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def alive(proc: psutil.Process) -> bool:
    """Whether a process still runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def pgid(proc: psutil.Process) -> int | None:
    """The process group of a process, or None when it is gone."""
    try:
        return os.getpgid(proc.pid)
    except OSError:
        return None


def end_processes(procs: list[psutil.Process], grace_s: float = 5.0) -> None:
    """SIGTERM the given processes, then SIGKILL those still alive after `grace_s`."""
    for proc in procs:
        with suppress(psutil.Error):
            proc.terminate()
    _, still_alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in still_alive:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(still_alive, timeout=grace_s)
