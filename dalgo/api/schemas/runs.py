"""Bodies of an org's run routes: runs, their steps and their logs.

The fields are those of the run reads' own models (`dalgo.deployments.runs`), held once there; the
classes here give them their names in the API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dalgo.deployments.runs import LogEntry, RunStep, RunSummary


class RunPublic(RunSummary):
    """A run in the org's run list."""


class RunStepPublic(RunStep):
    """One step of a run: a task run, or a subflow run (a pipeline's sync or dbt command)."""


class RunDetailPublic(RunPublic):
    """A run with its steps and, once it has ended, its result."""

    steps: list[RunStepPublic]
    result: Any | None = None


class LogPublic(LogEntry):
    """One log line of a run."""


class LogPage(BaseModel):
    data: list[LogPublic]
    next_offset: int | None
