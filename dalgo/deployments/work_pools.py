"""The process work pools the platform's runs go to, made with the command their runs start with.

Prefect's process worker starts a run's process in one of two ways. With no command configured,
it first starts its workspace supervisor (`python -m prefect.runner._workspace_supervisor`, which
prepares a workspace and can install the deployment's dependencies), and the supervisor then starts
the engine: two Python processes, each importing Prefect, one after the other. With a command
configured, it starts that command directly. The platform's code is installed with the worker, so
there is nothing for the supervisor to prepare: our process pools give `command` the default
`ENGINE_COMMAND`, and a run is Running about one Prefect import (2-3 s of CPU) sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.workers.process import ProcessWorker

from dalgo.deployments.client import prefect_client
from dalgo.settings import Settings

ENGINE_COMMAND = "setsid python -m prefect.engine"
"""What a process worker runs to start a flow run: Prefect's engine, with the `python` first on the
worker's PATH (the environment the platform is installed in), leading a session and process group
of its own (`setsid` execs it in place, so the worker still holds the engine's own pid), as
Prefect's supervisor starts it: a signal to the worker's group (Ctrl-C in its terminal, a stop of
the worker's group) reaches the worker, which decides what becomes of its runs, not the runs."""

PROCESS_POOL_TYPE = "process"


def _command_variable(template: dict[str, Any]) -> dict[str, Any] | None:
    properties = template.get("variables", {}).get("properties", {})
    command = properties.get("command")
    return command if isinstance(command, dict) else None


def process_job_template(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """A process pool's base job template (the given one, or Prefect's default when none or an
    empty one is given) whose `command` defaults to `ENGINE_COMMAND`."""
    made = copy.deepcopy(template) if template else ProcessWorker.get_default_base_job_template()
    command = _command_variable(made)
    if command is not None:
        command["default"] = ENGINE_COMMAND
    return made


def starts_engine_directly(template: dict[str, Any]) -> bool:
    """Whether runs of a pool with this template start the engine without the supervisor."""
    command = _command_variable(template)
    return command is not None and bool(command.get("default"))


async def ensure_work_pool(client: PrefectClient, settings: Settings) -> None:
    """Make the process work pool the platform's runs go to, unless it exists; a process pool
    that exists without a default command (made by `prefect worker start`, or before this
    setting) gets `ENGINE_COMMAND`."""
    try:
        pool = await client.read_work_pool(settings.work_pool)
    except ObjectNotFound:
        with contextlib.suppress(ObjectAlreadyExists):
            await client.create_work_pool(
                WorkPoolCreate(
                    name=settings.work_pool,
                    type=PROCESS_POOL_TYPE,
                    base_job_template=process_job_template(),
                )
            )
        return
    if pool.type == PROCESS_POOL_TYPE and not starts_engine_directly(pool.base_job_template):
        await client.update_work_pool(
            settings.work_pool, WorkPoolUpdate(base_job_template=process_job_template(pool.base_job_template))
        )


def prepare_work_pool(settings: Settings, api_url: str) -> None:
    """Make or mend the settings' work pool on the Prefect server at `api_url` before its worker
    starts (a worker reads its pool's template when it starts and then every heartbeat). It runs on
    a thread of its own, so a caller inside an event loop (a browser driver, a notebook) can call it."""

    async def prepare() -> None:
        async with prefect_client(settings.model_copy(update={"prefect_api_url": api_url})) as client:
            await ensure_work_pool(client, settings)

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, prepare()).result()


def worker_path(path: str | None) -> str:
    """A worker's PATH: the folder of this Python first, so that `ENGINE_COMMAND`'s `python` is the
    interpreter the platform is installed in."""
    here = str(Path(sys.executable).parent)
    return os.pathsep.join([here, *(p for p in (path or "").split(os.pathsep) if p and p != here)])
