"""Every dbt and git command on an org's dbt workspace, as one flow holding the workspace's lock.

The workspace's files live in a stable folder per org on the worker (`DALGO_HOME/orgs/<slug>/dbt/`:
`repo/` the checkout, `target/` dbt's target folder, so partial parsing stays warm between runs,
`logs/`). A command loads the workspace and warehouse blocks by name when it runs; its parameters
carry no secret. Every git and dbt command runs in the org's sandbox (`dalgo.sandbox`, see
`dalgo.flows.dbt_runner` and `dalgo.flows.git`), held to the org's time limit for a command
(`dalgo.flows.time_limit`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio
import yaml  # type: ignore[import-untyped]
from prefect import flow, get_run_logger
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.command_limit import CommandTimeLimitError, held_to
from dalgo.flows import git
from dalgo.flows.concurrency import hold_lock, org_run_slot
from dalgo.flows.dbt_commands import COMMANDS
from dalgo.flows.dbt_profiles import (
    PACKAGE_FILES,
    ProjectError,
    check_local_packages,
    listed_packages,
    private_profiles_dir,
    profile_name,
    read_project_file,
)
from dalgo.flows.dbt_runner import DbtInvocation, DbtOutcome, run_dbt
from dalgo.flows.results import record_result
from dalgo.flows.slots import give_way_while_org_full
from dalgo.flows.time_limit import org_time_limit
from dalgo.flows.warehouse import outbound_warehouse_problem
from dalgo.naming import (
    COMPLETED_WITH_WARNINGS,
    DBT_OPERATION_FLOW_NAME,
    WORKSPACE_RESOURCE,
    warehouse_block_name,
    workspace_block_name,
)
from dalgo.sandbox import SandboxUnavailableError, warn_if_off
from dalgo.settings import Settings, get_settings

SELECTABLE: Final = ("run", "test", "seed", "build", "docs-generate")
FULL_REFRESHABLE: Final = ("run", "seed", "build")
NEEDS_WAREHOUSE: Final = ("run", "test", "seed", "build", "docs-generate")
DOCS_FILE = "static_index.html"
DEPS_RECORD = "deps-installed.json"
"""The file in the workspace's folder that says what the last successful `dbt deps` installed."""
DEFAULT_INSTALL_PATH = "dbt_packages"
SKIPPABLE: Final = ("git-pull", "deps")
"""The commands a pipeline skips when they would change nothing (see `unneeded_because`)."""
MAX_SELECTOR_LENGTH = 1000
_SELECTOR_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:+*@/=-")


def needs_git_pull(workspace: DbtWorkspaceBlock) -> bool:
    """Whether the workspace's project comes from a git repository, so that a pipeline pulls it
    before its dbt steps (every workspace has a git URL today; a plain folder would not)."""
    return bool(workspace.git_url)


@dataclass(frozen=True)
class WorkspaceFolders:
    """The org's dbt folders on this worker."""

    root: Path

    @property
    def org_dir(self) -> Path:
        """The org's own folder: the only place a sandboxed git or dbt process may write."""
        return self.root.parent

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def target(self) -> Path:
        return self.root / "target"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def deps_record(self) -> Path:
        return self.root / DEPS_RECORD

    @property
    def docs(self) -> Path:
        """The generated documentation, one self-contained page."""
        return self.target / DOCS_FILE

    def _unlinked(self, path: Path) -> bool:
        """Whether no part of `path` below the org's folder is a symbolic link. Tenant code may
        write in the org's folder; the platform, outside the sandbox, must not follow a link it left
        there (to another org's folder, or a file of the platform)."""
        return path.resolve() == self.org_dir.resolve() / path.relative_to(self.org_dir)

    def confine(self) -> None:
        """Make the workspace's folders; ProjectError when one of them is a symbolic link."""
        for folder in (self.root, self.repo, self.target, self.logs):
            with contextlib.suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
            if not folder.is_dir() or not self._unlinked(folder):
                raise ProjectError(
                    f"The workspace's folder {folder.name}/ is not a plain folder (a symbolic link?): "
                    "remove the workspace and save it again."
                )

    def served_docs(self) -> Path | None:
        """The generated documentation's file, resolved, when it exists and no link leads to it."""
        docs = self.docs
        return docs.resolve() if docs.is_file() and self._unlinked(docs) else None

    def project(self, workspace: DbtWorkspaceBlock) -> Path:
        """The dbt project's folder inside the checkout; ProjectError when it leads outside it."""
        project = (self.repo / workspace.project_dir).resolve()
        if not project.is_relative_to(self.repo.resolve()):
            raise ProjectError("The project_dir leads outside the repository.")
        return project


def workspace_folders(org: str, settings: Settings | None = None) -> WorkspaceFolders:
    """Where the org's dbt workspace keeps its files."""
    return WorkspaceFolders((settings or get_settings()).org_home(org) / "dbt")


def packages_fingerprint(project: Path) -> str:
    """A digest of the project's packages.yml and dependencies.yml (what `dbt deps` installs from)."""
    digest = hashlib.sha256()
    for name in PACKAGE_FILES:
        text = read_project_file(project / name)
        digest.update(f"{name}\0{'-' if text is None else text}\0".encode())
    return digest.hexdigest()


def _deps_state(folders: WorkspaceFolders, project: Path) -> dict[str, str]:
    where = str(project.relative_to(folders.repo.resolve()))
    return {"project": where, "packages": packages_fingerprint(project)}


def record_deps(folders: WorkspaceFolders, project: Path) -> None:
    """Remember what a successful `dbt deps` installed from. The file is written anew and renamed
    into place, so a link left at its name is replaced, never followed."""
    descriptor, temporary = tempfile.mkstemp(prefix=".deps-", dir=folders.root)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(_deps_state(folders, project), file)
    Path(temporary).replace(folders.deps_record)


def _packages_installed(folders: WorkspaceFolders, project: Path) -> bool:
    """Whether the packages the project lists are in its install folder (dbt clean may remove it)."""
    if not listed_packages(project):
        return True
    text = read_project_file(project / "dbt_project.yml") or ""
    try:
        settings = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    place = settings.get("packages-install-path") if isinstance(settings, dict) else None
    place = DEFAULT_INSTALL_PATH if place is None else place
    if not isinstance(place, str) or "{" in place:
        return False
    folder = project / place
    if folder.is_symlink() or not folder.is_dir():
        return False
    return folder.resolve().is_relative_to(folders.org_dir.resolve()) and any(folder.iterdir())


def deps_unchanged(folders: WorkspaceFolders, workspace: DbtWorkspaceBlock) -> bool:
    """Whether `dbt deps` would change nothing: the last successful one on this worker installed
    from the same packages.yml and dependencies.yml, and the packages are still installed."""
    project = folders.project(workspace)
    try:
        text = read_project_file(folders.deps_record)
        recorded = json.loads(text) if text else None
    except ValueError:  # a link at the record's name (ProjectError) or not JSON
        return False
    return recorded == _deps_state(folders, project) and _packages_installed(folders, project)


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
    workspace = await _load_workspace(org)
    settings = get_settings()
    if workspace is None or not needs_git_pull(workspace):
        return None
    if git.local_repository_problem(workspace.git_url, org, settings) is not None:
        return None
    reason: str | None = await anyio.to_thread.run_sync(
        _unneeded_because, command, workspace, workspace_folders(org, settings)
    )
    return reason


def selector_problem(value: str) -> str | None:
    """What is wrong with a `select` or `exclude` value (dbt's node selection syntax), or None."""
    if len(value) > MAX_SELECTOR_LENGTH:
        return f"A selector can be at most {MAX_SELECTOR_LENGTH} characters long."
    words = value.split()
    if not words:
        return "A selector cannot be empty."
    for word in words:
        if word.startswith("-") or not set(word) <= _SELECTOR_CHARACTERS:
            return (
                f"{word!r} is not a dbt selector: use model names, tags, paths and the characters "
                "+ * @ : , . / = (space separated)."
            )
    return None


def operation_problem(
    command: str, select: str | None, exclude: str | None, full_refresh: bool
) -> str | None:
    """Why the command cannot run with these options, as a sentence, or None."""
    if command not in COMMANDS:
        return f"Unknown command {command!r}: use one of {', '.join(COMMANDS)}."
    for name, value in (("select", select), ("exclude", exclude)):
        if value is None:
            continue
        if command not in SELECTABLE:
            return f"{name} applies only to {', '.join(SELECTABLE)}."
        problem = selector_problem(value)
        if problem:
            return problem
    if full_refresh and command not in FULL_REFRESHABLE:
        return f"full_refresh applies only to {', '.join(FULL_REFRESHABLE)}."
    return None


def dbt_args(command: str, select: str | None, exclude: str | None, full_refresh: bool) -> list[str]:
    """The dbt command line (without the folders) for a dbt command of the workspace."""
    args = ["docs", "generate", "--static"] if command == "docs-generate" else [command]
    if select:
        args += ["--select", *select.split()]
    if exclude:
        args += ["--exclude", *exclude.split()]
    if full_refresh:
        args.append("--full-refresh")
    return args


def _empty(folder: Path) -> None:
    if folder.is_dir():
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def _operate(
    command: str,
    args: list[str],
    workspace: DbtWorkspaceBlock,
    warehouse: WarehouseBlock | None,
    folders: WorkspaceFolders,
    logger: Any,
    settings: Settings,
) -> dict[str, Any]:
    """Run the command in this (worker) thread; its result, with `outcome` and `message`."""
    started = time.monotonic()
    result: dict[str, Any] = {"command": command}
    secrets = [
        s for s in [workspace.token(), *(warehouse.backend().secret_values() if warehouse else [])] if s
    ]
    warn_if_off(settings, logger)
    try:
        folders.confine()
        if command == "git-pull" or not git.is_checked_out(folders.repo, workspace, folders.org_dir):
            if command != "git-pull":
                logger.info(
                    "This worker has no checkout of the workspace's repository yet: pulling it first."
                )
            checkout = git.pull(folders.repo, workspace, logger.info, folders.org_dir)
            result["git"] = checkout.as_dict()
            outcome = DbtOutcome("success", f"Checked out {checkout.commit[:12]} ({checkout.subject}).")
        if command != "git-pull":
            project = folders.project(workspace)
            profile = profile_name(project)
            if command == "deps":
                check_local_packages(project, folders.repo)
            logger.info(
                "Running dbt %s in %s", " ".join(args), workspace.project_dir or "the repository's root"
            )
            with private_profiles_dir(profile, warehouse, workspace.target_schema, folders.root) as (
                profiles,
                env,
            ):
                invocation = DbtInvocation(
                    folders.org_dir, project, profiles, folders.target, folders.logs, env
                )
                outcome = run_dbt(
                    args, invocation, secrets, lambda level, line: logger.log(level, "%s", line), settings
                )
            if command == "deps" and outcome.outcome == "success":
                record_deps(folders, project)
            if command == "clean" and outcome.outcome == "success":
                _empty(folders.target)
                logger.info("Emptied the workspace's target folder")
    except (git.GitError, ProjectError, SandboxUnavailableError, CommandTimeLimitError) as exc:
        outcome = DbtOutcome("failed", str(exc))
    result.update(
        outcome=outcome.outcome,
        message=outcome.message,
        counts=outcome.counts,
        nodes=outcome.nodes,
        duration_s=round(time.monotonic() - started, 3),
    )
    return result


async def _finish(result: dict[str, Any]) -> Any:
    """Log and record the result; the run's final state follows its outcome."""
    logger = get_run_logger()
    outcome, message = result["outcome"], result["message"]
    {"success": logger.info, "warnings": logger.warning}.get(outcome, logger.error)("%s", message)
    await record_result(result)
    if outcome == "warnings":
        return Completed(name=COMPLETED_WITH_WARNINGS, message=message, data=result)
    if outcome == "failed":
        return Failed(message=message, data=result)
    return result


def _holder() -> ConcurrencyLeaseHolder | None:
    run_id = flow_run.get_id()
    return ConcurrencyLeaseHolder(type="flow_run", id=uuid.UUID(run_id)) if run_id else None


async def _load_workspace(org: str) -> DbtWorkspaceBlock | None:
    try:
        workspace: DbtWorkspaceBlock = await DbtWorkspaceBlock.aload(workspace_block_name(org))
    except ValueError:
        return None
    return workspace


async def _load_warehouse(org: str) -> WarehouseBlock | None:
    try:
        warehouse: WarehouseBlock = await WarehouseBlock.aload(warehouse_block_name(org))
    except ValueError:
        return None
    return warehouse


@flow(name=DBT_OPERATION_FLOW_NAME)
async def dbt_operation(
    org: str,
    command: str,
    select: str | None = None,
    exclude: str | None = None,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """Run one command on the org's dbt workspace: `git-pull`, or a dbt command (`deps`, `clean`,
    `run`, `test`, `seed`, `build`, `docs-generate`) with optional `select`, `exclude` and
    `full_refresh`. It holds the workspace's lock for exactly as long as the command runs.

    The result summarises each node (status, timing, rows affected). Failing dbt tests end the run
    Completed with the name CompletedWithWarnings; a failing model, a git error, a project that
    cannot be read or a git or dbt process stopped at the org's time limit for a command fail it.
    """
    base: dict[str, Any] = {
        "command": command,
        "select": select,
        "exclude": exclude,
        "full_refresh": full_refresh,
    }
    problem = operation_problem(command, select, exclude, full_refresh)
    workspace = await _load_workspace(org)
    warehouse = await _load_warehouse(org)
    settings = get_settings()
    if workspace is None:
        problem = problem or f"The organization '{org}' has no dbt workspace yet."
    elif problem is None and command in NEEDS_WAREHOUSE and warehouse is None:
        problem = f"The organization '{org}' has no warehouse yet: dbt has nowhere to build."
    elif problem is None:
        problem = git.local_repository_problem(workspace.git_url, org, settings)
        if problem is None and warehouse is not None and command in NEEDS_WAREHOUSE:
            problem = outbound_warehouse_problem(warehouse, settings)
    if problem is not None or workspace is None:
        return await _finish({**base, "outcome": "failed", "message": problem})  # type: ignore[no-any-return]
    args = dbt_args(command, select, exclude, full_refresh)
    limit = await org_time_limit(org, settings)
    await give_way_while_org_full(org, settings.lock_wait_timeout_s)
    async with (
        org_run_slot(org, settings.lock_wait_timeout_s),
        hold_lock(
            org, WORKSPACE_RESOURCE, settings.lock_lease_s, settings.lock_wait_timeout_s, holder=_holder()
        ),
    ):
        with held_to(limit):
            result = await anyio.to_thread.run_sync(
                _operate,
                command,
                args,
                workspace,
                warehouse,
                workspace_folders(org, settings),
                get_run_logger(),
                settings,
            )
    return await _finish({**base, **result})  # type: ignore[no-any-return]
