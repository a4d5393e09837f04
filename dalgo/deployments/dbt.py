"""An org's dbt workspace: its block, its lock (a global concurrency limit of 1) and the runs of
its commands, started as flow runs of the platform's `dbt-operation` and `git-pull` deployments.

Every command's run is tagged `org:<slug>`, `kind:dbt` (or `kind:git`), `triggered-by:<email>` and
`dbt-workspace`; a second command while one of them is scheduled, pending or running is refused
with the holder's run (a pipeline run that drives the workspace carries the same tag).
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from urllib.parse import urlsplit

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.deployments.operations import DBT_OPERATION, GIT_PULL, start_operation
from dalgo.flows.dbt_folders import workspace_folders
from dalgo.naming import WORKSPACE_RESOURCE, dbt_workspace_lock, org_tag, workspace_block_name
from dalgo.settings import Settings

ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED]


class WorkspaceBusyError(RuntimeError):
    """A command on the workspace is under way."""

    def __init__(self, holder: FlowRun) -> None:
        super().__init__(
            f"The dbt workspace is busy with another command (run {holder.id}); wait for it to finish."
        )
        self.holder = holder


async def load_workspace(client: PrefectClient, org: str) -> DbtWorkspaceBlock | None:
    """The org's saved workspace, or None."""
    try:
        block: DbtWorkspaceBlock = await DbtWorkspaceBlock.aload(workspace_block_name(org), client=client)
    except ValueError:
        return None
    return block


def same_host(url: str, other: str) -> bool:
    """Whether two git URLs point at the same scheme, host and port (a saved token may follow)."""
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


async def save_workspace(client: PrefectClient, org: str, block: DbtWorkspaceBlock) -> None:
    """Save the workspace's block and make sure its lock exists; on failure nothing is changed."""
    previous = await load_workspace(client, org)
    await block.asave(workspace_block_name(org), overwrite=True, client=client)
    try:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=dbt_workspace_lock(org), limit=1)
        )
    except ObjectAlreadyExists:
        pass
    except Exception:
        if previous is None:
            await DbtWorkspaceBlock.adelete(workspace_block_name(org), client=client)
        else:
            await previous.asave(workspace_block_name(org), overwrite=True, client=client)
        raise


async def delete_workspace(client: PrefectClient, settings: Settings, org: str) -> None:
    """Remove the workspace's block, its lock and its folder on this machine (checkout, target
    folder and generated docs); the warehouse's tables stay."""
    with contextlib.suppress(ValueError, ObjectNotFound):
        await DbtWorkspaceBlock.adelete(workspace_block_name(org), client=client)
    with contextlib.suppress(ObjectNotFound):
        await client.delete_global_concurrency_limit_by_name(dbt_workspace_lock(org))
    shutil.rmtree(workspace_folders(org, settings).root, ignore_errors=True)


async def active_operation(client: PrefectClient, org: str) -> FlowRun | None:
    """The oldest unfinished run that drives the org's dbt workspace, or None (one query)."""
    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[org_tag(org), WORKSPACE_RESOURCE]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE)),
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=1,
    )
    return runs[0] if runs else None


async def start_dbt_operation(
    client: PrefectClient,
    settings: Settings,
    org: str,
    command: str,
    select: str | None,
    exclude: str | None,
    full_refresh: bool,
    triggered_by: str | None,
) -> uuid.UUID:
    """Start a run of the command on the workspace; WorkspaceBusyError while another one is under way."""
    busy = await active_operation(client, org)
    if busy is not None:
        raise WorkspaceBusyError(busy)
    operation = GIT_PULL if command == "git-pull" else DBT_OPERATION
    parameters = {
        "org": org,
        "command": command,
        "select": select,
        "exclude": exclude,
        "full_refresh": full_refresh,
    }
    return await start_operation(
        client, settings, operation, org, parameters, triggered_by, extra_tags=(WORKSPACE_RESOURCE,)
    )
