"""Bodies of an org's run routes: runs, their steps and their logs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class RunPublic(BaseModel):
    id: uuid.UUID
    name: str
    kind: str | None
    pipeline_id: str | None
    state: str
    state_message: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration_s: float | None
    triggered_by: str


class StepPublic(BaseModel):
    id: uuid.UUID
    name: str
    type: str
    state: str
    start_time: datetime | None
    end_time: datetime | None


class RunDetailPublic(RunPublic):
    steps: list[StepPublic]
    result: Any | None = None


class LogPublic(BaseModel):
    timestamp: datetime
    level: str
    step: str | None
    message: str


class LogPage(BaseModel):
    data: list[LogPublic]
    next_offset: int | None
