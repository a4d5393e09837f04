"""Request and response bodies of the dbt workspace routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dalgo.api.schemas.common import RunBrief

DbtCommand = Literal["git-pull", "deps", "clean", "run", "test", "seed", "build", "docs-generate"]


class DbtWorkspaceUpdate(BaseModel):
    """The workspace's settings. Leave `git_token` out (or send it masked) to keep the saved one,
    as long as the repository stays on the same host; send null to remove it."""

    model_config = ConfigDict(extra="forbid")

    git_url: str = Field(
        min_length=1,
        max_length=2000,
        description="https://host/owner/repo.git, or file:///absolute/folder for a repository on the worker.",
    )
    git_token: SecretStr | None = Field(
        default=None, max_length=2000, description="An access token that can read the repository."
    )
    branch: str | None = Field(
        default=None, max_length=200, description="The branch; the repository's default when unset."
    )
    project_dir: str = Field(
        default="", max_length=500, description="The dbt project's folder inside the repository."
    )
    target_schema: str = Field(min_length=1, max_length=63, description="The schema dbt builds into.")


class DbtWorkspacePublic(BaseModel):
    """The workspace's settings, the token masked, and the run that holds it, if any."""

    git_url: str
    git_token: str | None = Field(description="`********` when a token is saved, else null.")
    branch: str | None
    project_dir: str
    target_schema: str
    locked_by: RunBrief | None = None


class DbtOperationCreate(BaseModel):
    """A command to run on the workspace: `select`, `exclude` (dbt's selection syntax) and
    `full_refresh` apply to the dbt commands that take them."""

    model_config = ConfigDict(extra="forbid")

    command: DbtCommand
    select: str | None = Field(default=None, max_length=1000)
    exclude: str | None = Field(default=None, max_length=1000)
    full_refresh: bool = False
