"""What every scenario is given: where the bench keeps its files, its databases, its report, and
how thorough to be."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.report import Report
from bench.stack import Databases, RunningStack

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PROJECT = REPO / "examples" / "dbt_project"


@dataclass
class Context:
    """One bench run: its DALGO_HOME (shared by the scenarios' stacks, so a connector is
    installed once), the databases it made, the report, `quick` and the rounds per scenario."""

    home: Path
    databases: Databases
    report: Report
    quick: bool
    rounds: int

    def work_dir(self, name: str) -> Path:
        """A folder of the bench's own (outside any org's folder)."""
        folder = self.home.parent / f"{self.home.name}-work" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@dataclass
class MemorySampler:
    """Samples the stack's resident memory every `interval_s` on a thread: the peak of the whole
    stack, and the peak of one flow-run process (a direct child of the worker, without the
    connector or dbt processes it starts)."""

    stack: RunningStack
    interval_s: float = 0.5
    peak_stack: int = 0
    peak_flow_run: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def sample(self) -> None:
        self.peak_stack = max(self.peak_stack, self.stack.rss_bytes())
        for child in self.stack.stack.children:
            if child.name != "worker" or child.process is None:
                continue
            try:
                runs = psutil.Process(child.process.pid).children(recursive=False)
            except psutil.Error:
                continue
            for proc in runs:
                try:
                    self.peak_flow_run = max(self.peak_flow_run, int(proc.memory_info().rss))
                except psutil.Error:
                    continue

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))


def megabytes(value: int) -> int:
    return round(value / 1_048_576)
