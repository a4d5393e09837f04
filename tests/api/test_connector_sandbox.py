"""Attacks through the web API: a source-file source that reads the worker's `/etc/passwd`.

Refused with 422 when made or changed through the API; and a source smuggled past the API (its
block saved directly) reads nothing either: its discover and its sync, run by a real worker, end
without a line of the file in their results or logs, and the sync copies nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from dalgo.blocks.source import SourceBlock
from dalgo.deployments import sources
from dalgo.deployments.client import prefect_client
from dalgo.settings import Settings
from tests.support.accounts import OrgWithRoles
from tests.support.runs import org_run_parameters_and_logs, wait_for_run
from tests.support.warehouses import open_duckdb

PASSWD = {"dataset_name": "loot", "format": "csv", "url": "/etc/passwd", "provider": {"storage": "local"}}
RUN_TIMEOUT_S = 300


def _passwd_lines() -> list[str]:
    with open("/etc/passwd", encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def _leaks(text: str) -> list[str]:
    return [line for line in _passwd_lines() if line in text] + (
        ["root:x:0:0"] if "root:x:0:0" in text else []
    )


def test_a_source_reading_a_local_file_is_refused(
    client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    manager = org.headers["pipeline-manager"]
    url = f"/api/v1/orgs/{org.slug}/sources"
    for config in (
        PASSWD,
        {**PASSWD, "provider": {"storage": "LOCAL"}},
        {**PASSWD, "url": "file:///etc/passwd", "provider": {"storage": "HTTPS"}},
    ):
        refused = client.post(
            url, json={"name": "Loot", "definition": "source-file", "config": config}, headers=manager
        )
        assert refused.status_code == 422, refused.text
        assert "local files cannot be read" in refused.json()["detail"]
    fine = {**PASSWD, "url": "https://127.0.0.1:9/people.csv", "provider": {"storage": "HTTPS"}}
    made = client.post(
        url, json={"name": "People", "definition": "source-file", "config": fine}, headers=manager
    )
    assert made.status_code == 201, made.text
    changed = client.put(f"{url}/{made.json()['id']}", json={"config": PASSWD}, headers=manager)
    assert changed.status_code == 422 and "local files cannot be read" in changed.json()["detail"]
    assert client.get(f"/api/v1/orgs/{org.slug}/sources", headers=manager).json()["count"] == 1


def _smuggle(settings: Settings, org: str) -> str:
    """A source-file source reading /etc/passwd, its block saved directly (the API never saw it)."""
    source_id = uuid.uuid4()
    block = SourceBlock(title="Loot", definition="source-file", config=dict(PASSWD), secrets={})

    async def save() -> None:
        async with prefect_client(settings) as prefect:
            await sources.save_source(prefect, org, source_id, block)

    asyncio.run(save())
    return str(source_id)


def _run(client: TestClient, org: OrgWithRoles, url: str) -> dict[str, Any]:
    started = client.post(url, headers=org.headers["pipeline-manager"])
    assert started.status_code == 202, started.text
    return wait_for_run(client, org.slug, started.json()["flow_run_id"], org.headers["guest"], RUN_TIMEOUT_S)


def test_a_smuggled_local_file_source_reads_nothing(
    client: TestClient, worker: str, settings: Settings, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    base = f"/api/v1/orgs/{org.slug}"
    source_id = _smuggle(settings, org.slug)
    assert (
        client.post(f"{base}/sources/{source_id}/discover", headers=org.headers["guest"]).status_code == 403
    )
    discovered = _run(client, org, f"{base}/sources/{source_id}/discover")
    assert discovered["state"] == "failed", discovered

    warehouse = client.put(f"{base}/warehouse", json={"type": "duckdb"}, headers=org.headers["super-admin"])
    assert warehouse.status_code == 200, warehouse.text
    connection = client.post(
        f"{base}/connections",
        json={"name": "Loot", "source_id": source_id, "streams": ["loot"], "destination_schema": "loot"},
        headers=org.headers["pipeline-manager"],
    )
    assert connection.status_code == 201, connection.text
    synced = _run(client, org, f"{base}/connections/{connection.json()['id']}/sync")
    assert synced["state"] == "failed", synced

    logs = client.get(f"{base}/runs/{synced['id']}/logs", headers=org.headers["pipeline-manager"])
    parameters, all_logs = org_run_parameters_and_logs(settings, org.slug)
    told = " ".join(str(part) for part in (discovered, synced, logs.text, parameters, all_logs))
    assert _leaks(told) == []
    assert "local files cannot be read" in told
    path = Path(warehouse.json()["path"])
    if path.exists():
        with open_duckdb(path) as duck:
            query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'loot'"
            assert duck.execute(query).fetchall() == []
