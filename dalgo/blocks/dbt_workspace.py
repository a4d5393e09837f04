"""The org's dbt workspace as a Prefect block: where its dbt project comes from (a git repository,
the token to read it, the branch, the folder inside it) and the schema dbt builds into."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator, model_validator

from dalgo.blocks.warehouses.base import MASK
from dalgo.naming import DBT_WORKSPACE_BLOCK_TYPE

SCHEMA_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
GIT_SCHEMES = ("https", "file")
_BRANCH = re.compile(r"^(?!-)(?!/)(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/+-]{1,200}(?<!\.lock)(?<![./])$")
_PROJECT_DIR_PART = re.compile(r"^[A-Za-z0-9_.+-]+$")


def git_url_problem(url: str) -> str | None:
    """What is wrong with a workspace's git URL, as a sentence, or None when it is usable.

    An https URL names a host and carries no password (the token is kept apart); a `file://` URL
    names an absolute folder on the worker.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "The git URL is not a valid URL."
    if parts.scheme not in GIT_SCHEMES or any(c.isspace() for c in url):
        return "The git URL must start with https:// (or file:// for a repository on the worker)."
    if parts.query or parts.fragment:
        return "The git URL cannot have a query (?...) or a fragment (#...)."
    if parts.scheme == "https":
        if not parts.hostname:
            return "The git URL must name a host, like https://github.com/org/repo.git."
        if parts.password is not None:
            return "Put the access token in git_token, not in the git URL."
        if port == 0:
            return "The git URL names an invalid port."
        return None
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        return "A file:// URL names an absolute folder on the worker, like file:///srv/repos/project.git."
    if ".." in PurePosixPath(parts.path).parts:
        return "A file:// URL cannot contain '..'."
    return None


def branch_problem(branch: str) -> str | None:
    """What is wrong with a branch name, or None."""
    if _BRANCH.match(branch) is None:
        return f"{branch!r} is not a valid git branch name."
    return None


def normalize_project_dir(project_dir: str) -> str:
    """The project folder as a clean relative path ("" for the repository's root).

    Raises ValueError for an absolute path, `..`, or characters outside letters, digits and `_.+-/`.
    """
    text = project_dir.strip()
    if text in ("", ".", "./"):
        return ""
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or text.startswith("~"):
        raise ValueError("The project_dir is a folder inside the repository, like transform/dbt.")
    parts = [part for part in path.parts if part != "."]
    if not all(_PROJECT_DIR_PART.match(part) for part in parts):
        raise ValueError("The project_dir may hold only letters, digits and the characters _ . + - /.")
    return "/".join(parts)


class DbtWorkspaceBlock(Block):
    """One org's dbt workspace: a dbt project in a git repository, built into one warehouse schema."""

    _block_type_name: ClassVar[str | None] = "Dalgo dbt Workspace"
    _block_type_slug: ClassVar[str | None] = DBT_WORKSPACE_BLOCK_TYPE
    _description: ClassVar[str | None] = (
        "An organization's dbt workspace: the git repository of its dbt project (https, or file:// "
        "for a repository on the worker), the token to read it, the branch, the project's folder "
        "inside the repository, and the warehouse schema dbt builds into."
    )

    git_url: str = Field(description="The repository: https://... or file:///absolute/folder.")
    git_token: SecretStr | None = Field(
        default=None, description="An access token for a private https repository."
    )
    branch: str | None = Field(default=None, description="The branch to check out; the default when unset.")
    project_dir: str = Field(default="", description="The dbt project's folder inside the repository.")
    target_schema: str = Field(pattern=SCHEMA_PATTERN, description="The schema dbt builds into.")

    @model_validator(mode="after")
    def _usable(self) -> Self:
        problem = git_url_problem(self.git_url)
        if problem is None and self.branch is not None:
            problem = branch_problem(self.branch)
        if problem is not None:
            raise ValueError(problem)
        return self

    @field_validator("project_dir")
    @classmethod
    def _clean_project_dir(cls, value: str) -> str:
        return normalize_project_dir(value)

    def token(self) -> str | None:
        """The git token in plain text, or None."""
        return self.git_token.get_secret_value() if self.git_token else None

    def masked(self) -> dict[str, Any]:
        """The public view: the token shown as a mask when one is set."""
        return {
            "git_url": self.git_url,
            "git_token": MASK if self.git_token else None,
            "branch": self.branch,
            "project_dir": self.project_dir,
            "target_schema": self.target_schema,
        }
