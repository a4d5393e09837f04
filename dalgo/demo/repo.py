"""The demo's dbt project as a git repository the org's dbt workspace can point at (file://).

The workspace reads a `file://` repository only from outside DALGO_HOME or from the org's own
folder (outside its dbt workspace), so the demo keeps its copy in the org's folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from dalgo.demo.client import DemoError

EXAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "examples" / "dbt_project"
REPOSITORY_FOLDER = "example-dbt-project"
BRANCH = "main"
LEFT_OUT = ("target", "dbt_packages", "logs", ".user.yml", "__pycache__")


def _git(folder: Path, *arguments: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    identity = [
        "-c",
        "user.name=Dalgo demo",
        "-c",
        "user.email=demo@example.org",
        "-c",
        "commit.gpgsign=false",
    ]
    try:
        done = subprocess.run(
            ["git", *identity, *arguments], cwd=folder, env=env, capture_output=True, text=True, check=True
        )
    except FileNotFoundError as error:
        raise DemoError("git is needed for the demo's dbt project, and it is not installed.") from error
    except subprocess.CalledProcessError as error:
        raise DemoError(f"git {' '.join(arguments)} failed in {folder}: {error.stderr.strip()}") from error
    return done.stdout


def prepare_repository(org_home: Path, project: Path = EXAMPLE_PROJECT) -> tuple[str, str]:
    """Copy the project into a git repository in the org's folder and commit it when it is new or
    changed; the repository's file:// URL and what was done ("made", "updated" or "unchanged")."""
    if not (project / "dbt_project.yml").is_file():
        raise DemoError(f"The example dbt project is missing: no {project / 'dbt_project.yml'}.")
    folder = org_home / REPOSITORY_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    made = not (folder / ".git").is_dir()
    if made:
        _git(folder, "init", "--quiet", "--initial-branch", BRANCH)
    for entry in folder.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(project, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*LEFT_OUT))
    _git(folder, "add", "--all")
    if not _git(folder, "status", "--porcelain").strip():
        return folder.as_uri(), "unchanged"
    _git(
        folder,
        "commit",
        "--quiet",
        "--message",
        f"The example dbt project ({'first' if made else 'changed'})",
    )
    return folder.as_uri(), "made" if made else "updated"
