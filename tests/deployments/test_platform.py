"""The platform's maintenance deployments: prefect.yaml applied to the real Prefect server, by the
library and by `dalgo deploy`, with their schedules, on the platform work queue, idempotently."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    WorkPoolFilter,
    WorkPoolFilterName,
)

from dalgo.deployments.client import prefect_client
from dalgo.deployments.platform import (
    PlatformDeploymentError,
    apply_platform_deployments,
    deploy,
    read_prefect_yaml,
)
from dalgo.naming import PLATFORM_TAG
from dalgo.settings import Settings

JOBS = {
    "notify-failures",
    "free-stale-locks",
    "alert-long-runs",
    "expire-tokens-and-invitations",
    "apply-retention",
    "reconcile-prefect",
    "detect-schema-changes",
}


async def _platform_deployments(settings: Settings) -> dict[str, Any]:
    """The platform deployments in the settings' work pool, with their schedules, by name."""
    async with prefect_client(settings) as client:
        found = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[PLATFORM_TAG])),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[settings.work_pool])),
        )
        return {d.name: (d, await client.read_deployment_schedules(d.id)) for d in found}


async def _remove(settings: Settings) -> None:
    async with prefect_client(settings) as client:
        for deployment, _ in (await _platform_deployments(settings)).values():
            await client.delete_deployment(deployment.id)
        await client.delete_work_pool(settings.work_pool)


@pytest.fixture()
def own_pool(settings: Settings) -> Iterator[Settings]:
    """The session's settings with a work pool no worker serves, so the schedules run nothing."""
    mine = settings.model_copy(update={"work_pool": f"platform-test-{uuid.uuid4().hex[:6]}"})
    yield mine
    asyncio.run(_remove(mine))


def test_prefect_yaml_declares_every_job_on_the_platform_queue() -> None:
    specs = read_prefect_yaml()
    assert {s.name for s in specs} == JOBS
    for spec in specs:
        assert spec.work_queue == "platform" and spec.schedules and spec.concurrency_limit == 1
        assert spec.load_flow().name == spec.name


def test_applying_makes_scheduled_deployments_once(own_pool: Settings, tmp_path: Path) -> None:
    applied = asyncio.run(deploy(own_pool))
    assert set(applied) == JOBS
    found = asyncio.run(_platform_deployments(own_pool))
    assert set(found) == JOBS
    notify, schedules = found["notify-failures"]
    assert notify.work_queue_name == "platform" and notify.entrypoint == (
        "dalgo.flows.maintenance.notify.notify_failures"
    )
    assert "kind:maintenance" in notify.tags and notify.global_concurrency_limit is not None
    assert [s.schedule.interval.total_seconds() for s in schedules] == [60.0]
    _, retention = found["apply-retention"]
    assert [(s.schedule.cron, s.active) for s in retention] == [("30 2 * * *", True)]
    assert "only_orgs" in notify.parameter_openapi_schema["properties"]

    again = asyncio.run(deploy(own_pool))
    assert again == applied
    after = asyncio.run(_platform_deployments(own_pool))
    assert {n: [s.id for s in sch] for n, (_, sch) in after.items()} == {
        n: [s.id for s in sch] for n, (_, sch) in found.items()
    }

    fewer = [s for s in read_prefect_yaml() if s.name != "detect-schema-changes"]

    async def apply_fewer() -> None:
        async with prefect_client(own_pool) as client:
            await apply_platform_deployments(client, own_pool, fewer)

    asyncio.run(apply_fewer())
    assert set(asyncio.run(_platform_deployments(own_pool))) == JOBS - {"detect-schema-changes"}

    broken = tmp_path / "prefect.yaml"
    broken.write_text("deployments:\n  - name: x\n    entrypoint: nowhere\n")
    with pytest.raises(PlatformDeploymentError, match="needs a name and an entrypoint"):
        asyncio.run(deploy(own_pool, broken))


def test_dalgo_deploy_applies_them_from_the_command_line(own_pool: Settings) -> None:
    env = {
        **os.environ,
        "PREFECT_API_URL": str(own_pool.prefect_api_url),
        "DALGO_WORK_POOL": own_pool.work_pool,
        "DALGO_HOME": str(own_pool.resolved_home),
    }
    done = subprocess.run(
        [sys.executable, "-m", "dalgo.cli", "deploy"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Applied notify-failures" in done.stdout
    assert set(asyncio.run(_platform_deployments(own_pool))) == JOBS
    missing = subprocess.run(
        [sys.executable, "-m", "dalgo.cli", "deploy"],
        env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "PREFECT_API_URL" in missing.stderr


def test_a_maintenance_deployment_runs_on_the_worker(settings: Settings, worker: str) -> None:
    """The stored entrypoint works on a real worker: a run of the expiry job completes there."""
    (spec,) = [s for s in read_prefect_yaml() if s.name == "expire-tokens-and-invitations"]
    unscheduled = dataclasses.replace(spec, schedules=[])

    async def run_once() -> str:
        async with prefect_client(settings) as client:
            ids = await apply_platform_deployments(client, settings, [unscheduled])
            try:
                run = await client.create_flow_run_from_deployment(ids[spec.name])
                deadline = time.monotonic() + 120
                while True:
                    run = await client.read_flow_run(run.id)
                    if run.state is not None and run.state.is_final():
                        return run.state.type.value
                    assert time.monotonic() < deadline, f"the run is still {run.state}"
                    await asyncio.sleep(0.5)
            finally:
                await client.delete_deployment(ids[spec.name])

    assert asyncio.run(run_once()) == "COMPLETED"
