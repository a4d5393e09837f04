"""Freeing stale locks: a run killed while it held a lock leaves the slot taken (its lease would
hold it for up to its duration, and forever after a server restart); the job frees it, and leaves
alone a lock whose holder is still running."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prefect import flow, tags
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.concurrency.sync import concurrency
from prefect.states import Crashed

from dalgo.deployments.client import prefect_client
from dalgo.flows.maintenance.stale_locks import free_stale_locks, holder_runs
from dalgo.naming import kind_tag, org_tag
from dalgo.settings import Settings
from tests.support.accounts import OrgWithRoles

HOLD_AND_WAIT = textwrap.dedent(
    """
    import sys, time
    from prefect import flow, tags
    from prefect.concurrency.sync import concurrency

    @flow(name="test-lock-holder")
    def hold(name: str) -> None:
        with concurrency(name, occupy=1, strict=True, lease_duration=600):
            print("holding", flush=True)
            time.sleep(600)

    with tags(sys.argv[2], "kind:sync"):
        hold(sys.argv[1])
    """
)

release = threading.Event()


@flow(name="test-lock-keeper")
def keep_lock(name: str) -> None:
    with concurrency(name, occupy=1, strict=True, lease_duration=60):
        release.wait(120)


async def _limits(settings: Settings, names: list[str]) -> dict[str, int]:
    async with prefect_client(settings) as client:
        return {n: (await client.read_global_concurrency_limit_by_name(n)).active_slots for n in names}


async def _wait_until_held(settings: Settings, name: str, timeout_s: float = 60) -> list[uuid.UUID]:
    """Wait until the lock is taken and the event naming its holder is recorded; the holders."""
    deadline = time.monotonic() + timeout_s
    async with prefect_client(settings) as client:
        limit = await client.read_global_concurrency_limit_by_name(name)
        while True:
            holders = await holder_runs(client, limit.id, limit.created or limit.updated)  # type: ignore[arg-type]
            if holders and (await client.read_global_concurrency_limit_by_name(name)).active_slots == 1:
                return holders
            assert time.monotonic() < deadline, f"{name} was not taken"
            await asyncio.sleep(0.3)


@pytest.fixture()
def lock_names(
    flow_settings: Settings, make_org_with_roles: Callable[..., OrgWithRoles]
) -> Iterator[tuple[str, list[str]]]:
    org = make_org_with_roles()
    names = [f"lock:{org.slug}:connection:{uuid.uuid4()}" for _ in range(3)]

    async def create() -> None:
        async with prefect_client(flow_settings) as client:
            for name in names:
                await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))

    asyncio.run(create())
    yield org.slug, names

    async def remove() -> None:
        async with prefect_client(flow_settings) as client:
            for name in names:
                await client.delete_global_concurrency_limit_by_name(name)

    asyncio.run(remove())


def test_a_crashed_holders_lock_is_freed_and_a_live_ones_kept(
    flow_settings: Settings, lock_names: tuple[str, list[str]]
) -> None:
    org, (crashed_lock, live_lock, silent_lock) = lock_names
    release.clear()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, crashed_lock, org_tag(org)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    keeper = threading.Thread(target=_keep, args=(org, live_lock))
    try:
        (crashed_run,) = asyncio.run(_wait_until_held(flow_settings, crashed_lock))
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        asyncio.run(_crash(flow_settings, crashed_run))
        keeper.start()
        asyncio.run(_wait_until_held(flow_settings, live_lock))
        asyncio.run(_take_without_event(flow_settings, silent_lock))

        result: dict[str, Any] = asyncio.run(free_stale_locks(grace_minutes=0, only_orgs=[org]))
        assert result["freed"] == {crashed_lock: 1}
        assert asyncio.run(_limits(flow_settings, [crashed_lock, live_lock, silent_lock])) == {
            crashed_lock: 0,
            live_lock: 1,
            silent_lock: 1,
        }
        release.set()
        keeper.join(timeout=60)
        after: dict[str, Any] = asyncio.run(free_stale_locks(grace_minutes=0, only_orgs=[org]))
        assert after["freed"] == {silent_lock: 1}
        assert asyncio.run(_limits(flow_settings, [crashed_lock, live_lock, silent_lock])) == {
            crashed_lock: 0,
            live_lock: 0,
            silent_lock: 0,
        }
        unchanged: dict[str, Any] = asyncio.run(free_stale_locks(grace_minutes=0, only_orgs=[org]))
        assert unchanged == {"held_locks": 0, "freed": {}}
    finally:
        release.set()
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(timeout=10)


def _keep(org: str, name: str) -> None:
    with tags(org_tag(org), kind_tag("sync")):
        keep_lock(name)


async def _crash(settings: Settings, run_id: uuid.UUID) -> None:
    """What the worker reports when the process of a run is killed."""
    async with prefect_client(settings) as client:
        await client.set_flow_run_state(run_id, Crashed(message="The process was killed."), force=True)


async def _take_without_event(settings: Settings, name: str) -> None:
    """A slot taken with no event naming a holder (as after a server restart lost the lease)."""
    async with prefect_client(settings) as client:
        await client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=1))
