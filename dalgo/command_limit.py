"""The longest one of a tenant's commands may run, and how a command is held to it.

A tenant's command is a process started in the sandbox (`dalgo.sandbox`): a connector's spec,
check, discover or read, a dbt command, a git command. A flow that runs an org's commands reads the
org's limit (`dalgo.flows.time_limit`) and runs them inside `held_to(limit)`; every sandboxed
command started meanwhile is watched from a thread of its own. Once a command has run for longer
than the limit it is stopped together with every process it started (SIGKILL to its process group
and to each of its descendants; under bubblewrap its PID namespace ends with them), the limit
records that it stopped one, and the flow fails its run with `CommandTimeLimit.message()`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psutil

log = logging.getLogger(__name__)

_current: ContextVar[CommandTimeLimit | None] = ContextVar("dalgo_command_time_limit", default=None)


class CommandTimeLimitError(RuntimeError):
    """A command ran past the organization's time limit and was stopped; the message says so."""


def _count(value: int, unit: str) -> str:
    return f"{value} {unit}" + ("" if value == 1 else "s")


def duration_text(seconds: float) -> str:
    """A duration as a person says it: `45 seconds`, `1 minute`, `2 hours 5 minutes`."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        _count(value, unit)
        for value, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second"))
        if value
    ]
    return " ".join(parts) or "0 seconds"


@dataclass
class CommandTimeLimit:
    """How long each command of one run may take, and how long the command that ran past it had
    run when it was stopped (None while none has)."""

    seconds: float
    stopped_after_s: float | None = None

    @property
    def stopped(self) -> bool:
        """Whether a command held to this limit was stopped."""
        return self.stopped_after_s is not None

    def message(self) -> str:
        """The sentence a run that was stopped fails with."""
        ran = self.stopped_after_s if self.stopped_after_s is not None else self.seconds
        return (
            f"Stopped after {duration_text(ran)}: the organization's time limit for a command is "
            f"{duration_text(self.seconds)}."
        )

    def check(self) -> None:
        """Raise CommandTimeLimitError when a command held to this limit was stopped."""
        if self.stopped:
            raise CommandTimeLimitError(self.message())

    def watch(self, process: subprocess.Popen[Any]) -> None:
        """Stop the started process (and every process it started) once it has run for longer
        than the limit; a thread waits for it meanwhile and ends with it."""
        started = time.monotonic()

        def guard() -> None:
            try:
                process.wait(timeout=self.seconds)
            except subprocess.TimeoutExpired:
                self.stopped_after_s = time.monotonic() - started
                log.warning("%s (process %d)", self.message(), process.pid)
                stop_process_tree(process)

        threading.Thread(target=guard, name=f"time-limit-{process.pid}", daemon=True).start()


def stop_process_tree(process: subprocess.Popen[Any]) -> None:
    """Kill the process, its process group and every descendant of it (those that left the group
    too). The process must have been started in a session of its own (`start_new_session`)."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.kill()


def current_limit() -> CommandTimeLimit | None:
    """The limit the commands started now are held to (None outside `held_to`)."""
    return _current.get()


@contextlib.contextmanager
def held_to(limit: CommandTimeLimit | None) -> Iterator[CommandTimeLimit | None]:
    """Hold every sandboxed command started inside (in this context, and in threads started from
    it with its context, as `anyio.to_thread.run_sync` does) to the limit."""
    token = _current.set(limit)
    try:
        yield limit
    finally:
        _current.reset(token)
