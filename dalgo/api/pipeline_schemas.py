"""Request and response bodies of pipelines, locks and an org's run placement."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from dalgo.api.schemas import RunBrief

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


class LockPublic(BaseModel):
    resource: str
    holder_run_id: uuid.UUID | None
    since: datetime | None


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


class OrgExecutionUpdate(BaseModel):
    """What platform admins set for an org; only the fields sent change (null resets the pool, the
    queue or the time limit for a command to the platform's)."""

    max_concurrent_runs: int | None = Field(default=None, ge=1, le=100)
    work_pool: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    work_queue: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    retention_days: int | None = Field(
        default=None, ge=1, le=3650, description="How long the org's runs and their logs are kept."
    )
    command_time_limit_s: int | None = Field(
        default=None,
        ge=10,
        le=86400,
        description=(
            "How long, in seconds, one of the org's commands (a connector's spec, check, discover or "
            "sync, a dbt or git command) may run before it is stopped and its run fails."
        ),
    )


class OrgExecutionPublic(BaseModel):
    org: str
    max_concurrent_runs: int
    work_pool: str
    work_queue: str | None
    retention_days: int
    command_time_limit_s: int = Field(
        description="How long, in seconds, one of the org's commands may run before it is stopped."
    )
