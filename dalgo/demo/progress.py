"""How the demo shows its progress: one line per step of the demo (start the stack, make the org, ...)
with its time, a spinner while it works."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class DemoStepView:
    """The demo's step being worked on: its live line (on a terminal) and a note for its final line."""

    def __init__(self, title: str, progress: Progress | None = None, task: TaskID | None = None) -> None:
        self.title = title
        self.progress = progress
        self.task = task
        self.note = ""

    def update(self, detail: str, completed: int | None = None) -> None:
        """Say what the step is doing now (and, for a counted step, how far it got)."""
        if self.progress is not None and self.task is not None:
            description = f"{escape(self.title)}: {escape(detail)}"
            self.progress.update(self.task, description=description, completed=completed)


class DemoSteps:
    """The demo's own steps (not a run's): prints `✓ <step>  <seconds>` as each step ends; while a
    step runs, a terminal shows a spinner, the time so far and, for counted steps, a bar. Elsewhere
    (a pipe, a log file) only the final lines appear."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.monotonic()

    @contextmanager
    def step(self, title: str, counted: bool = False) -> Iterator[DemoStepView]:
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if counted:
            columns.append(BarColumn(bar_width=20))
        columns.append(TimeElapsedColumn())
        start = time.monotonic()
        with ExitStack() as stack:
            view = DemoStepView(title)
            if self.console.is_terminal:
                progress = stack.enter_context(Progress(*columns, console=self.console, transient=True))
                view = DemoStepView(title, progress, progress.add_task(escape(title), total=None))
            try:
                yield view
            except BaseException:
                stack.close()
                self._line("[red]✗[/red]", title, "", start)
                raise
        self._line("[green]✓[/green]", title, view.note, start)

    def note(self, text: str) -> None:
        """A line of its own under the steps (something the reader should know)."""
        self.console.print(f"  {escape(text)}", style="dim")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _line(self, mark: str, title: str, note: str, start: float) -> None:
        seconds = time.monotonic() - start
        suffix = f" ({escape(note)})" if note else ""
        self.console.print(f"{mark} {escape(title)}{suffix}  [dim]{seconds:.1f} s[/dim]")
