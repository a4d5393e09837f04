"""Every dbt and git command on an org's dbt workspace, as one flow holding the workspace's lock.

A command loads the workspace and warehouse blocks by name when it runs; its parameters carry no
secret. It works in the workspace's folders on the worker (`dalgo.flows.dbt_folders`). Every git
and dbt command runs in the org's sandbox (`dalgo.sandbox`, see `dalgo.flows.dbt_runner` and
`dalgo.flows.git`), held to the org's time limit for a command (`dalgo.flows.time_limit`). The
options a command takes are checked by `dalgo.flows.dbt_options`.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Final

import anyio
from prefect import flow, get_run_logger
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.command_limit import CommandTimeLimitError, held_to
from dalgo.flows import git
from dalgo.flows.concurrency import hold_lock, org_run_slot
from dalgo.flows.dbt_deps import record_deps
from dalgo.flows.dbt_folders import WorkspaceFolders, workspace_folders
from dalgo.flows.dbt_options import dbt_args, operation_problem
from dalgo.flows.dbt_profiles import (
    ProjectError,
    check_local_packages,
    private_profiles_dir,
    profile_name,
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

NEEDS_WAREHOUSE: Final = ("run", "test", "seed", "build", "docs-generate")


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


async def load_workspace(org: str) -> DbtWorkspaceBlock | None:
    """The org's dbt workspace block, or None when it has none."""
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
    workspace = await load_workspace(org)
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
