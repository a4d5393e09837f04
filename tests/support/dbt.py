"""The dbt workspace of the tests: the test dbt project (tests/dbt_project) in a local bare git
repository, the workspace's request body, and dbt commands run through the API."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.run_logs import log_messages, log_messages_once_there
from tests.secrets_registry import GIT_TOKEN
from tests.support.accounts import OrgWithRoles
from tests.support.runs import wait_for_run

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
VARIANTS = PROJECT / "variants"
RUN_TIMEOUT_S = 180
FAKE_TOKEN = GIT_TOKEN


def git(cwd: Path, *args: str) -> str:
    """Run git for the test's own repositories (with an identity for commits)."""
    done = subprocess.run(
        ["git", "-c", "user.name=Dalgo Tests", "-c", "user.email=tests@dalgo.local", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


class Repo:
    """A bare repository (the "remote", reached as file://) and a working copy that pushes to it.
    The dbt project sits in `transform/` inside the repository."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "origin.git"
        self.work = root / "work"
        self.bare.mkdir(parents=True)
        git(self.bare, "init", "--quiet", "--bare", "--initial-branch=main")
        self.work.mkdir()
        git(self.work, "init", "--quiet", "--initial-branch=main")
        shutil.copytree(PROJECT, self.work / "transform", ignore=shutil.ignore_patterns("variants"))
        self.commit("The test project", "main")

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, message: str, branch: str) -> str:
        git(self.work, "add", "--all")
        git(self.work, "commit", "--quiet", "-m", message)
        git(self.work, "push", "--quiet", str(self.bare), f"HEAD:refs/heads/{branch}")
        return git(self.work, "rev-parse", "HEAD")

    def apply(self, variant: str, message: str, branch: str = "main") -> str:
        """Copy a variant's files over the project and push them as a new commit."""
        shutil.copytree(VARIANTS / variant, self.work / "transform", dirs_exist_ok=True)
        return self.commit(message, branch)

    def write(self, path: str, text: str, message: str, branch: str) -> str:
        (self.work / "transform" / path).write_text(text)
        return self.commit(message, branch)


def workspace_body(repo: Repo, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "git_url": repo.url,
        "git_token": FAKE_TOKEN,
        "branch": "main",
        "project_dir": "transform",
        "target_schema": "analytics",
    }
    body.update(changes)
    return body


def start(client: TestClient, org: OrgWithRoles, command: str, **options: Any) -> str:
    response = client.post(
        f"/api/v1/orgs/{org.slug}/dbt/operations",
        json={"command": command, **options},
        headers=org.headers["analyst"],
    )
    assert response.status_code == 202, response.text
    return str(response.json()["flow_run_id"])


def wait(client: TestClient, org: OrgWithRoles, run_id: str) -> dict[str, Any]:
    """The run's detail once it has ended."""
    return wait_for_run(client, org.slug, run_id, org.headers["guest"], timeout_s=RUN_TIMEOUT_S)


def operate(client: TestClient, org: OrgWithRoles, command: str, **options: Any) -> dict[str, Any]:
    """Run the command and wait for it; the run's detail."""
    return wait(client, org, start(client, org, command, **options))


def nodes(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in detail["result"]["nodes"]}


def logs(client: TestClient, org: OrgWithRoles, run_id: str, awaiting: str | None = None) -> str:
    """Every log line of the run through the API; with `awaiting`, once a line containing it has
    arrived."""
    headers = org.headers["guest"]
    if awaiting is None:
        return "\n".join(log_messages(client, org.slug, run_id, headers))
    return "\n".join(log_messages_once_there(client, org.slug, run_id, headers, awaiting))
