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

FLOW_RUN_ID_ENV = "PREFECT__FLOW_RUN_ID"

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PROJECT = REPO / "examples" / "dbt_project"


@dataclass
class Context:
    """One bench run: its DALGO_HOME (shared by the scenarios' stacks, so a connector is
    installed once), the databases it made, the report, `quick`, the rounds per scenario, and
    fan-out's org counts and overhead's row counts when not the defaults."""

    home: Path
    databases: Databases
    report: Report
    quick: bool
    rounds: int
    fanout_sizes: list[int] = field(default_factory=list)
    overhead_rows: list[int] = field(default_factory=list)

    def work_dir(self, name: str) -> Path:
        """A folder of the bench's own (outside any org's folder)."""
        folder = self.home.parent / f"{self.home.name}-work" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@dataclass
class MemorySampler:
    """Samples the stack's resident memory every `interval_s` on a thread: the peak of the whole
    stack, and the peak of one flow-run process (without the connector or dbt processes it
    starts)."""

    stack: RunningStack
    interval_s: float = 0.5
    peak_stack: int = 0
    peak_flow_run: int = 0
    _run_processes: dict[int, bool] = field(default_factory=dict)
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
        """Take one sample now."""
        self.peak_stack = max(self.peak_stack, self.stack.rss_bytes())
        for proc in self.stack.processes():
            if not self._is_run_process(proc):
                continue
            try:
                self.peak_flow_run = max(self.peak_flow_run, int(proc.memory_info().rss))
            except psutil.Error:
                continue

    def _is_run_process(self, proc: psutil.Process) -> bool:
        """Whether the process is the top process of a flow run (it has the run's id in its
        environment, and its parent, the worker, has not)."""
        if proc.pid not in self._run_processes:
            try:
                parent = proc.parent()
                mine = bool(proc.environ().get(FLOW_RUN_ID_ENV))
                self._run_processes[proc.pid] = mine and not (
                    parent is not None and parent.environ().get(FLOW_RUN_ID_ENV)
                )
            except psutil.Error:
                return False
        return self._run_processes[proc.pid]

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))


def megabytes(value: int) -> int:
    """Bytes as whole mebibytes."""
    return round(value / 1_048_576)
