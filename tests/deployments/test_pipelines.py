"""Pipeline deployments, org run slots and waiting for locks, against the session's real Prefect
server. Pipeline runs here run in-process (steps that end fast), so no worker is needed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prefect import flow
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.objects import State, StateType
from prefect.concurrency.asyncio import concurrency
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogHandler

from dalgo import naming
from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.deployments import pipelines
from dalgo.deployments.client import prefect_client
from dalgo.deployments.crashes import AUTOMATION_NAME
from dalgo.deployments.factory import Schedule
from dalgo.deployments.fairness import Placement, org_run_limit, set_org_run_limit
from dalgo.deployments.run_detail import run_result
from dalgo.flows.concurrency import hold_lock, read_limit
from dalgo.flows.pipeline import DbtStep, Step, SyncStep, plan_steps, run_pipeline
from dalgo.run_states import api_state
from dalgo.settings import Settings, get_settings
from tests.slow_prefect import slow_prefect
from tests.support.accounts import unique_slug


@pytest.fixture(scope="module")
def flow_settings(settings: Settings, client: TestClient) -> Iterator[Settings]:
    """In-process flows read the session's settings from the environment, as on a worker."""
    patch = pytest.MonkeyPatch()
    patch.setenv("DALGO_HOME", str(settings.resolved_home))
    patch.setenv("DALGO_DATABASE_URL", str(settings.database_url))
    patch.setenv("DALGO_WORK_POOL", settings.work_pool)
    get_settings.cache_clear()
    yield get_settings()
    asyncio.run(APILogHandler.aflush())
    EventsWorker.drain_all()
    patch.undo()
    get_settings.cache_clear()


def _pipeline(schedule: Schedule | None, paused: bool = False) -> pipelines.Pipeline:
    definition = pipelines.PipelineDefinition("p", [DbtStep("run")], schedule)
    return pipelines.Pipeline(uuid.uuid4(), uuid.uuid4(), definition, paused, None, None, None, None)


def test_schedules_are_checked_and_fire_in_their_time_zone() -> None:
    assert pipelines.check_schedule("0 9 * * *", "Asia/Kolkata") is None
    assert pipelines.check_schedule("*/15 * * * * 30", "UTC") is None
    assert "not a valid cron" in str(pipelines.check_schedule("0 25 * * *", "UTC"))
    assert "five fields" in str(pipelines.check_schedule("every day", "UTC"))
    assert "IANA" in str(pipelines.check_schedule("0 9 * * *", "Asia/Kolkatta"))

    def next_of(cron: str, timezone: str, now: datetime) -> datetime | None:
        return asyncio.run(pipelines.next_run(_pipeline(Schedule(cron, timezone)), now))

    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert next_of("0 9 * * *", "Asia/Kolkata", now) == datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
    assert next_of("0 9 * * *", "Asia/Kolkata", datetime(2026, 3, 2, 4, 0, tzinfo=UTC)) == datetime(
        2026, 3, 3, 3, 30, tzinfo=UTC
    )
    assert next_of("0 9 * * *", "America/New_York", datetime(2026, 7, 1, tzinfo=UTC)) == datetime(
        2026, 7, 1, 13, 0, tzinfo=UTC
    )
    assert next_of("0 9 * * *", "America/New_York", datetime(2026, 1, 5, tzinfo=UTC)) == datetime(
        2026, 1, 5, 14, 0, tzinfo=UTC
    )
    paused = _pipeline(Schedule("0 9 * * *", "UTC"), paused=True)
    assert asyncio.run(pipelines.next_run(paused)) is None
    assert asyncio.run(pipelines.next_run(_pipeline(None))) is None


def test_applying_a_pipeline_is_idempotent_placed_and_limited(settings: Settings) -> None:
    """Applying twice leaves one deployment, tagged and in the org's pool and queue; the org gets
    its run limit (the platform's default), and crashed runs are watched for."""
    org = unique_slug()
    pipeline_id = uuid.uuid4()
    definition = pipelines.PipelineDefinition(
        "Nightly", [SyncStep(str(uuid.uuid4())), DbtStep("run", select="marts")], Schedule("0 2 * * *", "UTC")
    )
    placement = Placement(f"{settings.work_pool}-big", "org-queue")

    async def scenario() -> None:
        async with prefect_client(settings) as client:
            first = await pipelines.apply_pipeline(client, settings, org, pipeline_id, definition, placement)
            changed = pipelines.PipelineDefinition("Nightly", definition.steps, Schedule("30 3 * * 1", "UTC"))
            second = await pipelines.apply_pipeline(
                client, settings, org, pipeline_id, changed, placement, paused=True
            )
            assert first.deployment_id == second.deployment_id and second.id == pipeline_id
            deployment = await client.read_deployment(second.deployment_id)
            assert set(deployment.tags) == {f"org:{org}", "kind:pipeline", f"pipeline:{pipeline_id}"}
            assert deployment.name == f"{org}--pipeline-{pipeline_id.hex}"
            assert (deployment.work_pool_name, deployment.work_queue_name) == (
                placement.work_pool,
                "org-queue",
            )
            assert second.paused and second.definition.schedule == Schedule("30 3 * * 1", "UTC")
            assert second.definition.steps == definition.steps
            assert await org_run_limit(client, org) == settings.org_run_limit
            assert await client.read_automations_by_name(AUTOMATION_NAME)
            found, total = await pipelines.list_pipelines(client, org, 10, 0)
            assert total == 1 and [p.id for p in found] == [pipeline_id]
            assert await pipelines.find_pipeline(client, unique_slug(), pipeline_id) is None
            assert await pipelines.delete_pipeline(client, org, pipeline_id)
            assert await pipelines.find_pipeline(client, org, pipeline_id) is None

    asyncio.run(scenario())


async def _states(settings: Settings, run_id: uuid.UUID) -> list[str]:
    async with prefect_client(settings) as client:
        return [s.name or "" for s in await client.read_flow_run_states(run_id)]


def _result(settings: Settings, state: State[Any]) -> Any:
    """The result the run recorded, read back as the API reads it."""

    async def read() -> Any:
        async with prefect_client(settings) as client:
            run_id = state.state_details.flow_run_id
            assert run_id is not None
            return await run_result(client, await client.read_flow_run(run_id))

    return asyncio.run(read())


def _run(org: str, steps: list[dict[str, Any]], **options: Any) -> State[Any]:
    """Run a pipeline in this process; its final state."""

    async def run() -> State[Any]:
        state: State[Any] = await run_pipeline(
            org=org, pipeline_id=str(uuid.uuid4()), name="test", steps=steps, return_state=True, **options
        )
        return state

    return asyncio.run(run())


def test_a_full_org_waits_for_a_run_slot_while_another_org_runs(
    settings: Settings, flow_settings: Settings
) -> None:
    """With its one run slot taken, an org's run shows that it waits and gives up after the wait
    time; another org's run at the same moment goes ahead (its dbt step fails: it has no workspace)."""
    busy, other = unique_slug("busy"), unique_slug("other")
    steps = [{"type": "dbt", "command": "run"}]

    async def hold_and_run() -> tuple[State[Any], State[Any]]:
        async with prefect_client(settings) as client:
            await set_org_run_limit(client, busy, 1)
            await set_org_run_limit(client, other, 1)
        async with concurrency(naming.org_limit_name(busy), lease_duration=60, strict=True):
            waiting = await asyncio.to_thread(_run, busy, steps, lock_wait_timeout_s=3)
            going = await asyncio.to_thread(_run, other, steps, lock_wait_timeout_s=3)
        return waiting, going

    waiting, going = asyncio.run(hold_and_run())
    assert waiting.is_failed()
    assert f"for one of {busy}'s 1 run slots" in str(waiting.message)
    run_id = waiting.state_details.flow_run_id
    assert run_id is not None
    assert naming.AWAITING_SLOT in asyncio.run(_states(settings, run_id))
    assert going.is_failed()
    assert going.message == f"Step dbt-run failed: The organization '{other}' has no dbt workspace yet."


def test_a_locked_resource_is_waited_for_visibly_then_given_up(
    settings: Settings, flow_settings: Settings
) -> None:
    org = unique_slug()
    connection_id = str(uuid.uuid4())
    name = naming.lock_name(org, naming.connection_tag(connection_id))

    async def hold_and_run() -> State[Any]:
        async with prefect_client(settings) as client:
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        async with concurrency(name, lease_duration=60, strict=True):
            return await asyncio.to_thread(
                _run, org, [{"type": "sync", "connection_id": connection_id}], lock_wait_timeout_s=3
            )

    state = asyncio.run(hold_and_run())
    assert state.is_failed()
    assert f"Gave up after waiting 3 s for connection:{connection_id}" in str(state.message)
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    names = asyncio.run(_states(settings, run_id))
    assert naming.WAITING_FOR_LOCK in names
    assert api_state(State(type=StateType.RUNNING, name=naming.WAITING_FOR_LOCK)) == "waiting_for_lock"


def test_the_first_failed_step_stops_the_run_unless_told_to_go_on(
    settings: Settings, flow_settings: Settings
) -> None:
    """A sync of a connection that is gone fails at once; without continue_on_sync_failure the dbt
    step after it is skipped, with it the dbt step runs (and fails here: there is no workspace)."""
    org = unique_slug()
    steps: list[dict[str, Any]] = [
        {"type": "sync", "connection_id": str(uuid.uuid4()), "retries": 0},
        {"type": "dbt", "command": "run"},
    ]
    stopped = _run(org, steps, lock_wait_timeout_s=5)
    assert stopped.is_failed() and str(stopped.message).startswith("Step sync-")
    result = _result(settings, stopped)
    assert [s["state"] for s in result["steps"]] == ["failed", "skipped"]
    went_on = _run(org, steps, lock_wait_timeout_s=5, continue_on_sync_failure=True)
    assert went_on.is_failed() and "(2 steps failed)" in str(went_on.message)
    result = _result(settings, went_on)
    assert [(s["step"], s["state"]) for s in result["steps"]][1] == ("dbt-run", "failed")


@flow(name="hold-a-lock")
async def hold_a_lock(org: str, resource: str, wait_s: float) -> str:
    """A flow that uses a resource through `hold_lock`, as a sync or dbt flow can."""
    async with hold_lock(org, resource, lease_s=60, wait_s=wait_s):
        return "held"


def test_a_flow_taking_a_lock_waits_visibly_and_names_the_holder_when_it_gives_up(
    settings: Settings, flow_settings: Settings
) -> None:
    org = unique_slug()
    resource = naming.connection_tag(uuid.uuid4())
    name = naming.lock_name(org, resource)

    async def scenario() -> tuple[State[Any], State[Any]]:
        async with prefect_client(settings) as client:
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        async with concurrency(name, lease_duration=60, strict=True):
            refused: State[Any] = await hold_a_lock(org, resource, 2, return_state=True)
        held: State[Any] = await hold_a_lock(org, resource, 2, return_state=True)
        return refused, held

    refused, held = asyncio.run(scenario())
    assert refused.is_failed() and f"Gave up after waiting 2 s for {resource}" in str(refused.message)
    run_id = refused.state_details.flow_run_id
    assert run_id is not None and naming.WAITING_FOR_LOCK in asyncio.run(_states(settings, run_id))
    assert held.is_completed()


def test_a_git_backed_workspace_is_pulled_and_its_packages_installed_before_the_first_dbt_step(
    settings: Settings, flow_settings: Settings
) -> None:
    org = unique_slug()
    sync = SyncStep(str(uuid.uuid4()))

    def planned(steps: list[Step]) -> list[str]:
        return [s.label for s in asyncio.run(plan_steps(org, steps))]

    assert planned([sync, DbtStep("run")]) == [sync.label, "dbt-run"]
    workspace = DbtWorkspaceBlock(git_url="https://example.org/ngo/dbt.git", target_schema="analytics")
    asyncio.run(workspace.asave(naming.workspace_block_name(org)))
    assert planned([sync, DbtStep("run"), DbtStep("test")]) == [
        sync.label,
        "dbt-git-pull",
        "dbt-deps",
        "dbt-run",
        "dbt-test",
    ]
    assert planned([DbtStep("git-pull"), DbtStep("run")]) == ["dbt-git-pull", "dbt-deps", "dbt-run"]
    assert planned([DbtStep("deps"), DbtStep("seed")]) == ["dbt-git-pull", "dbt-deps", "dbt-seed"]
    assert planned([sync]) == [sync.label]


HOLD_A_LOCK_SCRIPT = """
import asyncio, sys
from tests.deployments.test_pipelines import hold_a_lock
state = asyncio.run(hold_a_lock(sys.argv[1], sys.argv[2], float(sys.argv[3]), return_state=True))
print(state.type.value, state.message)
"""


def test_a_free_lock_taken_through_a_slow_prefect_is_held_once_and_released(
    settings: Settings, flow_settings: Settings
) -> None:
    """Prefect answers the lease request 2 s late (a busy server). The flow must still take the
    free lock at once and leave it free when it ends. A client that gave up on its first request
    after 1 s (the server grants it all the same) found the lock held by nobody and waited out
    the lease: the flow failed with "Gave up after waiting", the slot stayed taken."""
    org = unique_slug()
    resource = naming.connection_tag(uuid.uuid4())
    name = naming.lock_name(org, resource)

    async def make_limit() -> None:
        async with prefect_client(settings) as client:
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))

    async def active_slots() -> int:
        async with prefect_client(settings) as client:
            limit = await read_limit(client, name)
            assert limit is not None
            return limit.active_slots

    asyncio.run(make_limit())
    with slow_prefect(str(settings.prefect_api_url), "increment-with-lease", delay_s=2.0) as url:
        env = {**os.environ, "PREFECT_API_URL": url, "DALGO_HOME": str(settings.resolved_home)}
        done = subprocess.run(
            [sys.executable, "-c", HOLD_A_LOCK_SCRIPT, org, resource, "20"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith("COMPLETED"), done.stdout + done.stderr[-3000:]
    deadline = time.monotonic() + 30
    while asyncio.run(active_slots()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert asyncio.run(active_slots()) == 0
