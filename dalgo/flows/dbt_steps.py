"""What a pipeline decides about its git and dbt steps before they run: whether the workspace is
pulled at all (`needs_git_pull`), and why a `git-pull` or `deps` step need not run now
(`unneeded_because`)."""

from __future__ import annotations

from typing import Final

import anyio

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.flows import git
from dalgo.flows.dbt_deps import deps_unchanged
from dalgo.flows.dbt_folders import WorkspaceFolders, workspace_folders
from dalgo.flows.dbt_profiles import ProjectError
from dalgo.flows.transform import load_workspace
from dalgo.sandbox import SandboxUnavailableError
from dalgo.settings import get_settings

SKIPPABLE: Final = ("git-pull", "deps")
"""The commands a pipeline skips when they would change nothing (see `unneeded_because`)."""


def needs_git_pull(workspace: DbtWorkspaceBlock) -> bool:
    """Whether the workspace's project comes from a git repository, so that a pipeline pulls it
    before its dbt steps (every workspace has a git URL today; a plain folder would not)."""
    return bool(workspace.git_url)


def _unneeded_because(command: str, workspace: DbtWorkspaceBlock, folders: WorkspaceFolders) -> str | None:
    try:
        folders.confine()
        if command == "git-pull":
            commit = git.unchanged_checkout(folders.repo, workspace, folders.org_dir)
            if commit is None:
                return None
            branch = f"branch {workspace.branch}" if workspace.branch else "the default branch"
            return (
                f"the tip of {branch} of {workspace.git_url} is still {commit[:12]}, "
                "which this worker checked out last"
            )
        checked_out = git.is_checked_out(folders.repo, workspace, folders.org_dir)
        if checked_out and deps_unchanged(folders, workspace):
            return (
                "packages.yml and dependencies.yml are as they were at the last successful dbt deps "
                "on this worker, and the packages are still installed"
            )
    except (ProjectError, SandboxUnavailableError, OSError):
        return None
    return None


async def unneeded_because(org: str, command: str) -> str | None:
    """Why a pipeline's `git-pull` or `deps` step need not run now, as a phrase, or None when it
    must: `git-pull` when the branch's tip is the commit this worker's checkout holds (and its files
    are as committed), `deps` when the packages files are those of the last successful `dbt deps`
    here and the packages are still installed. Anything unclear (no checkout, the remote not
    answering, an unreadable file) means the step runs."""
    if command not in SKIPPABLE:
        return None
    workspace = await load_workspace(org)
    settings = get_settings()
    if workspace is None or not needs_git_pull(workspace):
        return None
    if git.local_repository_problem(workspace.git_url, org, settings) is not None:
        return None
    reason: str | None = await anyio.to_thread.run_sync(
        _unneeded_because, command, workspace, workspace_folders(org, settings)
    )
    return reason
