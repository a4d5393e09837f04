"""The org's time limit for a command (a connector's or dbt's, git's): how long one process of a
tenant's code may run before it is stopped and its run fails.

Its home is a Prefect variable per org (`command_time_limit_variable`, tagged `org:<slug>`) that
platform admins set through the API; an org without one has the platform's default
(`DALGO_COMMAND_TIME_LIMIT_S`). A flow reads it when it starts and runs its commands held to it
(`dalgo.command_limit.held_to`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.client.schemas.objects import State
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.states import Failed

from dalgo.command_limit import CommandTimeLimit, CommandTimeLimitError, held_to
from dalgo.naming import command_time_limit_variable, org_tag
from dalgo.settings import Settings, get_settings

T = TypeVar("T")


async def read_org_time_limit(client: PrefectClient, org: str) -> int | None:
    """The org's time limit for a command in seconds, as set for it; None when none was set."""
    variable = await client.read_variable_by_name(command_time_limit_variable(org))
    value = variable.value if variable is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


async def set_org_time_limit(client: PrefectClient, org: str, seconds: int) -> None:
    """Set how long one of the org's commands may run (runs already going keep theirs)."""
    name = command_time_limit_variable(org)
    tags = [org_tag(org)]
    try:
        await client.create_variable(VariableCreate(name=name, value=seconds, tags=tags))
    except ObjectAlreadyExists:
        await client.update_variable(VariableUpdate(name=name, value=seconds, tags=tags))


async def remove_org_time_limit(client: PrefectClient, org: str) -> bool:
    """Remove the org's own time limit (it then has the platform's default); False when it had none."""
    with contextlib.suppress(ObjectNotFound):
        await client.delete_variable_by_name(command_time_limit_variable(org))
        return True
    return False


async def org_time_limit(org: str, settings: Settings | None = None) -> CommandTimeLimit:
    """The limit this run holds the org's commands to (read once, when the run starts)."""
    async with get_client() as client:
        seconds = await read_org_time_limit(client, org)
    return CommandTimeLimit(seconds or (settings or get_settings()).command_time_limit_s)


async def run_held_to(limit: CommandTimeLimit, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in a worker thread, every sandboxed command it starts held to the limit;
    CommandTimeLimitError when one was stopped (whatever `work` made of that)."""
    with held_to(limit):
        try:
            done: T = await anyio.to_thread.run_sync(work, *args)
        except Exception as error:
            if limit.stopped:
                raise CommandTimeLimitError(limit.message()) from error
            raise
    limit.check()
    return done


def stopped_state(error: CommandTimeLimitError, logger: Any) -> State[Any]:
    """The final state of a run whose command was stopped at the time limit (the reason logged)."""
    logger.error("%s", error)
    return Failed(message=str(error))
