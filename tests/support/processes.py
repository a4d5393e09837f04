"""Child processes of a test: their output read on a thread, and their trees of descendants."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator

import psutil
import pytest


class ProcessOutput:
    """Collects a process's output lines on a thread, so reading never blocks the test."""

    def __init__(self, stream: Iterator[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Iterator[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, needle: str, timeout_s: float, proc: subprocess.Popen[str]) -> None:
        """Wait until a line holds `needle`; fail with the output if the process ends or time runs out."""
        deadline = time.monotonic() + timeout_s
        while needle not in self.text:
            if proc.poll() is not None:
                self._thread.join(5)
                pytest.fail(f"{proc.args!r} exited with {proc.returncode}:\n{self.text}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {needle!r} after {timeout_s} s:\n{self.text}")
            time.sleep(0.5)


def alive(proc: psutil.Process) -> bool:
    """Whether the process still runs (a zombie does not)."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def describe(proc: psutil.Process) -> str:
    """The process id and command line, or that it is gone."""
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())}"
    except psutil.Error:
        return f"{proc.pid} (gone)"


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants, as found now."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
