"""Bodies of the platform admins' route for an org's run limit, placement, retention and time limit."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
