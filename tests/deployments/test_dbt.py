"""The dbt workspace's Prefect objects against the session's real Prefect server."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.deployments import dbt
from dalgo.deployments.client import prefect_client
from dalgo.prefect_objects import org_block_documents, org_concurrency_limit_names
from dalgo.settings import Settings
from tests.support.accounts import unique_slug


def test_saving_and_deleting_a_workspace(settings: Settings) -> None:
    org = unique_slug()
    block = DbtWorkspaceBlock(
        git_url="https://github.com/x/y.git", git_token=SecretStr("t0ken-value"), target_schema="analytics"
    )
    folder = settings.org_home(org) / "dbt" / "repo"

    async def scenario() -> None:
        async with prefect_client(settings) as client:
            assert await dbt.load_workspace(client, org) is None
            await dbt.save_workspace(client, org, block)
            await dbt.save_workspace(client, org, block.model_copy(update={"branch": "dev"}))
            loaded = await dbt.load_workspace(client, org)
            assert loaded is not None and loaded.branch == "dev" and loaded.token() == "t0ken-value"
            assert [d["name"] for d in await org_block_documents(client, org)] == [f"{org}--dbt-workspace"]
            assert await org_concurrency_limit_names(client, org) == [f"lock:{org}:dbt-workspace"]
            limit = await client.read_global_concurrency_limit_by_name(f"lock:{org}:dbt-workspace")
            assert limit.limit == 1
            assert await dbt.active_operation(client, org) is None

            folder.mkdir(parents=True)
            await dbt.delete_workspace(client, settings, org)
            assert await dbt.load_workspace(client, org) is None
            assert await org_concurrency_limit_names(client, org) == []
            assert not folder.parent.exists()
            await dbt.delete_workspace(client, settings, org)

    asyncio.run(scenario())


def test_a_token_follows_only_to_the_same_host() -> None:
    assert dbt.same_host("https://github.com/a/b.git", "https://github.com/c/d.git")
    assert not dbt.same_host("https://github.com/a/b.git", "https://github.com.evil.org/a/b.git")
    assert not dbt.same_host("https://github.com/a/b.git", "https://github.com:8443/a/b.git")
    assert not dbt.same_host("https://github.com/a/b.git", "file:///github.com/a/b.git")
