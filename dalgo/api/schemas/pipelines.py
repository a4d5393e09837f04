"""Bodies of an org's pipeline routes: their steps, schedule, state and a refused run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from dalgo.api.schemas.common import RunBrief
from dalgo.api.schemas.locks import LockPublic

Retries = Annotated[
    int | None, Field(default=None, ge=0, le=5, description="Null: syncs once more, dbt never.")
]


RetryDelay = Annotated[
    float | None, Field(default=None, ge=0, le=3600, description="Null: the platform's delay for syncs.")
]


class SyncStepBody(BaseModel):
    """Sync one of the org's connections."""

    type: Literal["sync"]
    connection_id: uuid.UUID
    retries: Retries = None
    retry_delay_s: RetryDelay = None


class DbtStepBody(BaseModel):
    """Run a dbt command (`git-pull`, `deps`, `clean`, `run`, `test`, `seed`, `build`, `docs-generate`)."""

    type: Literal["dbt"]
    command: str = Field(max_length=40)
    select: str | None = Field(default=None, max_length=2000)
    exclude: str | None = Field(default=None, max_length=2000)
    full_refresh: bool = False
    retries: Retries = None
    retry_delay_s: RetryDelay = None


StepBody = Annotated[SyncStepBody | DbtStepBody, Field(discriminator="type")]


class ScheduleBody(BaseModel):
    """A cron expression (five fields, or six with seconds last) in an IANA time zone."""

    cron: str = Field(max_length=120, examples=["0 9 * * *"])
    timezone: str = Field(default="UTC", max_length=64, examples=["Asia/Kolkata"])


class PipelineCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    steps: list[StepBody] = Field(max_length=50)
    schedule: ScheduleBody | None = None
    continue_on_sync_failure: bool = False


class PipelineUpdate(BaseModel):
    """Only the fields sent change; `"schedule": null` makes the pipeline manual only."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    steps: list[StepBody] | None = Field(default=None, max_length=50)
    schedule: ScheduleBody | None = None
    continue_on_sync_failure: bool | None = None


class PipelinePublic(BaseModel):
    id: uuid.UUID
    name: str
    steps: list[StepBody]
    schedule: ScheduleBody | None
    continue_on_sync_failure: bool
    paused: bool
    next_run: datetime | None
    last_run: RunBrief | None
    lock: LockPublic | None = Field(description="The first of its resources that is locked now, if any.")
    created: datetime | None
    updated: datetime | None


class PipelineRunConflict(BaseModel):
    detail: str
    holder_run_id: uuid.UUID | None
    resource: str | None
