"""Process work pools start a run's engine directly: made with the engine command, or mended (a
pool `prefect worker start` made has Prefect's default template, without a command)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from prefect.client.schemas.actions import WorkPoolCreate
from prefect.workers.process import ProcessWorker

from dalgo.deployments.client import prefect_client
from dalgo.deployments.work_pools import (
    ENGINE_COMMAND,
    ensure_work_pool,
    prepare_work_pool,
    starts_engine_directly,
)
from dalgo.settings import Settings


def test_a_new_pool_and_a_pool_prefect_made_both_start_the_engine_directly(settings: Settings) -> None:
    new_pool = f"dalgo-pool-{uuid.uuid4().hex[:6]}"
    prefects_pool = f"dalgo-pool-{uuid.uuid4().hex[:6]}"

    async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with prefect_client(settings) as client:
            try:
                await ensure_work_pool(client, settings.model_copy(update={"work_pool": new_pool}))
                made = (await client.read_work_pool(new_pool)).base_job_template
                await client.create_work_pool(
                    WorkPoolCreate(
                        name=prefects_pool,
                        type="process",
                        base_job_template=ProcessWorker.get_default_base_job_template(),
                    )
                )
                before = (await client.read_work_pool(prefects_pool)).base_job_template
                await ensure_work_pool(client, settings.model_copy(update={"work_pool": prefects_pool}))
                mended = (await client.read_work_pool(prefects_pool)).base_job_template
                return made, before, mended
            finally:
                for name in (new_pool, prefects_pool):
                    await client.delete_work_pool(name)

    made, before, mended = asyncio.run(main())
    assert made["variables"]["properties"]["command"]["default"] == ENGINE_COMMAND
    assert not starts_engine_directly(before)
    assert mended["variables"]["properties"]["command"]["default"] == ENGINE_COMMAND
    assert mended["job_configuration"] == before["job_configuration"]


def test_the_sessions_pool_starts_the_engine_directly(settings: Settings, worker: str) -> None:
    async def template() -> dict[str, Any]:
        async with prefect_client(settings) as client:
            return (await client.read_work_pool(worker)).base_job_template

    assert starts_engine_directly(asyncio.run(template()))


def test_a_pool_is_prepared_from_inside_a_running_event_loop(settings: Settings) -> None:
    """The browser tests' driver runs an event loop in the thread that starts the session's worker."""
    pool = f"dalgo-pool-{uuid.uuid4().hex[:6]}"

    async def inside_a_loop() -> None:
        prepare_work_pool(settings.model_copy(update={"work_pool": pool}), str(settings.prefect_api_url))

    async def template_and_delete() -> dict[str, Any]:
        async with prefect_client(settings) as client:
            made = (await client.read_work_pool(pool)).base_job_template
            await client.delete_work_pool(pool)
            return made

    asyncio.run(inside_a_loop())
    assert starts_engine_directly(asyncio.run(template_and_delete()))
