"""Helpers for tests that make sources through the API and read back what their block keeps."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi.testclient import TestClient

from dalgo.deployments import sources
from dalgo.deployments.client import prefect_client
from dalgo.settings import Settings
from tests.support.accounts import OrgWithRoles


def sftp_config(password: str) -> dict[str, Any]:
    """A source-file config reading a CSV over SFTP from 127.0.0.1 with a password (a secret)."""
    return {
        "dataset_name": "people",
        "format": "csv",
        "url": "/data/people.csv",
        "provider": {
            "storage": "SFTP",
            "user": "ngo",
            "password": password,
            "host": "127.0.0.1",
            "port": "22",
        },
    }


def make_sftp_source(client: TestClient, org: OrgWithRoles, password: str) -> dict[str, Any]:
    """A source-file source over SFTP made by the org's pipeline manager; the API's answer."""
    created = client.post(
        f"/api/v1/orgs/{org.slug}/sources",
        json={"name": "Field data", "definition": "source-file", "config": sftp_config(password)},
        headers=org.headers["pipeline-manager"],
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def stored_source(settings: Settings, org: str, source_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source block's public config and its secrets, as Prefect keeps them."""

    async def read() -> tuple[dict[str, Any], dict[str, Any]]:
        async with prefect_client(settings) as prefect:
            block = await sources.load_source(prefect, org, uuid.UUID(source_id))
            assert block is not None
            return block.config, block.secrets.get_secret_value()

    return asyncio.run(read())
