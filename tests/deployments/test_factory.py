"""The deployment factory against the session's real Prefect server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prefect.blocks.system import Secret
from prefect.exceptions import ObjectNotFound

from dalgo.deployments.client import prefect_client
from dalgo.deployments.factory import (
    DeploymentFactoryError,
    OrgDeploymentSpec,
    Schedule,
    apply_org_deployment,
    delete_org_deployment,
    find_org_deployment,
)
from dalgo.prefect_objects import org_block_documents
from dalgo.settings import Settings
from tests.support.accounts import unique_slug


def spec(org: str, **changes: object) -> OrgDeploymentSpec:
    values: dict[str, object] = {
        "org": org,
        "kind": "check",
        "name": "nightly-check",
        "flow_name": "check-warehouse",
        "entrypoint": "dalgo.flows.warehouse.check_warehouse",
        "parameters": {"org": org},
        "schedule": Schedule("0 3 * * *", "Asia/Kolkata"),
    }
    values.update(changes)
    return OrgDeploymentSpec(**values)  # type: ignore[arg-type]


def test_apply_is_idempotent_tagged_and_named_after_the_org(settings: Settings) -> None:
    org = unique_slug()

    async def scenario() -> None:
        async with prefect_client(settings) as client:
            first = await apply_org_deployment(client, settings, spec(org))
            second = await apply_org_deployment(
                client, settings, spec(org, schedule=Schedule("30 4 * * 1", "UTC"), paused=True)
            )
            assert first == second
            deployment = await client.read_deployment(first)
            assert deployment.name == f"{org}--nightly-check"
            assert set(deployment.tags) == {f"org:{org}", "kind:check"}
            assert deployment.work_pool_name == settings.work_pool
            assert deployment.paused
            schedules = await client.read_deployment_schedules(first)
            assert [s.schedule.cron for s in schedules] == ["30 4 * * 1"]  # type: ignore[union-attr]
            assert (await find_org_deployment(client, org, "nightly-check")) is not None
            assert await find_org_deployment(client, unique_slug(), "nightly-check") is None

            assert await delete_org_deployment(client, org, "nightly-check")
            assert not await delete_org_deployment(client, org, "nightly-check")
            with pytest.raises(ObjectNotFound):
                await client.read_deployment(first)

    asyncio.run(scenario())


def test_a_failed_apply_removes_the_blocks_it_saved(settings: Settings) -> None:
    """The deployment step fails (an invalid cron) after the block was written: the block goes."""
    org = unique_slug()

    async def scenario() -> None:
        async with prefect_client(settings) as client:
            bad = spec(
                org, schedule=Schedule("not a cron", "UTC"), blocks={"token": Secret(value=uuid.uuid4().hex)}
            )
            with pytest.raises(DeploymentFactoryError, match="could not be applied"):
                await apply_org_deployment(client, settings, bad)
            assert await org_block_documents(client, org) == []
            assert await find_org_deployment(client, org, "nightly-check") is None

    asyncio.run(scenario())


def test_a_failed_update_puts_the_previous_block_back(settings: Settings) -> None:
    org = unique_slug()

    async def scenario() -> None:
        async with prefect_client(settings) as client:
            await apply_org_deployment(client, settings, spec(org, blocks={"token": Secret(value="first")}))
            bad = spec(
                org, schedule=Schedule("0 3 * * *", "Not/AZone"), blocks={"token": Secret(value="second")}
            )
            with pytest.raises(DeploymentFactoryError):
                await apply_org_deployment(client, settings, bad)
            kept: Secret[str] = await Secret.aload(f"{org}--token", client=client)
            assert kept.get() == "first"
            assert await delete_org_deployment(client, org, "nightly-check", block_suffixes=("token",))
            assert await org_block_documents(client, org) == []

    asyncio.run(scenario())
