"""The Airbyte-server ingestion engine, end to end through the API and the session's worker.

No Airbyte server can run on this machine, so these tests run against `tests.ingestion.airbyte_stub`,
a scripted HTTP server implementing the Airbyte API endpoints Dalgo uses (listed in its docstring,
from Airbyte's published API reference): token, workspaces, sources, destinations, connections,
jobs, and the Config API's `jobs/get` for log lines. Everything else is real: Postgres, Prefect, the
worker, and the platform's code talking to the stub over HTTP with the airbyte-api SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dalgo.blocks.ingestion import AirbyteServerBlock
from dalgo.cli import app
from dalgo.deployments.client import prefect_client
from dalgo.naming import AIRBYTE_SERVER_BLOCK_NAME
from dalgo.settings import Settings
from tests.api.connection_support import add_connection, add_source
from tests.ingestion.airbyte_stub import AirbyteStub, start
from tests.run_logs import log_messages_once_there
from tests.support.accounts import OrgWithRoles
from tests.support.runs import org_run_parameters_and_logs, wait_for_run
from tests.support.waiting import wait_until
from tests.support.warehouses import postgres_body


@pytest.fixture(scope="module")
def stub() -> Iterator[AirbyteStub]:
    airbyte = AirbyteStub()
    server = start(airbyte)
    yield airbyte
    server.shutdown()


def _remove_server_block(settings: Settings) -> None:
    async def remove() -> None:
        async with prefect_client(settings) as client:
            with contextlib.suppress(ValueError):
                await AirbyteServerBlock.adelete(AIRBYTE_SERVER_BLOCK_NAME, client=client)

    asyncio.run(remove())


def _set_server(stub: AirbyteStub) -> None:
    outcome = CliRunner().invoke(
        app,
        ["admin", "airbyte-server", "--api-url", stub.url, "--client-id", stub.client_id],
        env={"DALGO_AIRBYTE_CLIENT_SECRET": stub.client_secret},
    )
    assert outcome.exit_code == 0, outcome.output
    assert stub.client_secret not in outcome.output


def _engine(client: TestClient, org: OrgWithRoles, engine: str) -> tuple[int, dict[str, object]]:
    response = client.put(
        f"/api/v1/orgs/{org.slug}/ingestion-engine",
        json={"engine": engine},
        headers=org.headers["account-manager"],
    )
    return response.status_code, response.json()


@pytest.fixture(scope="module")
def server_org(
    client: TestClient,
    worker: str,
    stub: AirbyteStub,
    settings: Settings,
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> tuple[OrgWithRoles, str]:
    """An org with a Postgres warehouse and a faker connection, syncing through the stub server.
    On the way it checks that the engine can only be chosen once the platform has a server."""
    _remove_server_block(settings)
    org = make_org_with_roles()
    status, body = _engine(client, org, "airbyte-server")
    assert status == 422 and "no Airbyte server" in str(body["detail"])
    _set_server(stub)
    warehouse = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse",
        json=postgres_body(make_database("airbyte_dest")),
        headers=org.headers["super-admin"],
    )
    assert warehouse.status_code == 200
    status, body = _engine(client, org, "airbyte-server")
    assert status == 200 and body == {
        "engine": "airbyte-server",
        "workspace_id": None,
        "airbyte_server_available": True,
    }
    source_id = add_source(client, org, "source-faker", {"count": 10, "seed": 5})
    return org, add_connection(client, org, source_id, ["users"], "from_airbyte")


def _sync(client: TestClient, org: OrgWithRoles, connection_id: str) -> str:
    started = client.post(
        f"/api/v1/orgs/{org.slug}/connections/{connection_id}/sync", headers=org.headers["pipeline-manager"]
    )
    assert started.status_code == 202, started.text
    return str(started.json()["flow_run_id"])


def test_a_duckdb_org_cannot_choose_the_airbyte_server(
    client: TestClient, server_org: tuple[OrgWithRoles, str], make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    assert (
        client.put(
            f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "duckdb"}, headers=org.headers["super-admin"]
        ).status_code
        == 200
    )
    status, body = _engine(client, org, "airbyte-server")
    assert status == 422 and "DuckDB" in str(body["detail"])
    shown = client.get(f"/api/v1/orgs/{org.slug}/ingestion-engine", headers=org.headers["guest"]).json()
    assert shown["engine"] == "embedded"


def test_syncs_run_as_airbyte_jobs_in_the_orgs_own_workspace(
    client: TestClient, settings: Settings, stub: AirbyteStub, server_org: tuple[OrgWithRoles, str]
) -> None:
    org, connection_id = server_org
    stub.outcome, stub.running_polls = "succeeded", 1
    first = wait_for_run(client, org.slug, _sync(client, org, connection_id), org.headers["guest"])
    assert first["state"] == "completed", first
    result = first["result"]
    assert isinstance(result, dict)
    assert result["engine"] == "airbyte-server" and result["records"] == 42
    assert result["streams"] == {"users": {"records": 42, "bytes": 4200}}

    (workspace,) = stub.workspaces.values()
    assert workspace["name"] == f"dalgo-{org.slug}"
    (source,) = stub.sources.values()
    assert source["configuration"] == {"count": 10, "seed": 5, "sourceType": "faker"}
    (destination,) = stub.destinations.values()
    assert destination["configuration"]["destinationType"] == "postgres"
    (connection,) = stub.connections.values()
    assert connection["namespaceFormat"] == "from_airbyte"
    assert connection["configurations"]["streams"] == [{"name": "users"}]
    shown = client.get(f"/api/v1/orgs/{org.slug}/ingestion-engine", headers=org.headers["guest"]).json()
    assert shown["workspace_id"] == workspace["workspaceId"]

    run_id = _sync(client, org, connection_id)
    assert wait_for_run(client, org.slug, run_id, org.headers["guest"])["state"] == "completed"
    assert len(stub.workspaces) == 1 and len(stub.sources) == 1 and len(stub.connections) == 1
    assert len(stub.calls("POST", "/api/public/v1/jobs")) == 2
    messages = log_messages_once_there(client, org.slug, run_id, org.headers["guest"], "job 2 succeeded")
    assert any("airbyte: replication progress: poll 2 of job 2" in m for m in messages), messages
    _, all_logs = org_run_parameters_and_logs(settings, org.slug)
    assert stub.client_secret not in all_logs


def test_cancelling_our_run_cancels_the_airbyte_job(
    client: TestClient, stub: AirbyteStub, server_org: tuple[OrgWithRoles, str]
) -> None:
    org, connection_id = server_org
    stub.outcome = "never"
    run_id = _sync(client, org, connection_id)
    wait_until(lambda: any(j.status == "running" for j in stub.jobs.values()), 120, "the Airbyte job running")
    (job,) = [j for j in stub.jobs.values() if j.status == "running"]
    cancel = client.post(
        f"/api/v1/orgs/{org.slug}/runs/{run_id}/cancel", headers=org.headers["pipeline-manager"]
    )
    assert cancel.status_code == 202
    assert wait_for_run(client, org.slug, run_id, org.headers["guest"])["state"] == "cancelled"
    assert job.status == "cancelled"
    assert f"/api/public/v1/jobs/{job.job_id}" in stub.calls("DELETE", "/api/public/v1/jobs/")


def test_a_failed_airbyte_job_fails_the_run_with_its_reason(
    client: TestClient, stub: AirbyteStub, server_org: tuple[OrgWithRoles, str]
) -> None:
    org, connection_id = server_org
    stub.outcome, stub.running_polls = "failed", 0
    detail = wait_for_run(client, org.slug, _sync(client, org, connection_id), org.headers["guest"])
    assert detail["state"] == "failed"
    assert "ended failed: Source could not connect: the password was rejected" in str(detail["state_message"])


def test_deleting_removes_the_objects_from_the_workspace_and_the_workspace_with_the_org(
    client: TestClient,
    stub: AirbyteStub,
    server_org: tuple[OrgWithRoles, str],
    platform_admin: dict[str, str],
) -> None:
    org, connection_id = server_org
    source_id = (
        stub.sources
        and client.get(f"/api/v1/orgs/{org.slug}/sources", headers=org.headers["guest"]).json()["data"][0][
            "id"
        ]
    )
    assert (
        client.delete(
            f"/api/v1/orgs/{org.slug}/connections/{connection_id}", headers=org.headers["pipeline-manager"]
        ).status_code
        == 204
    )
    assert stub.connections == {}
    assert (
        client.delete(
            f"/api/v1/orgs/{org.slug}/sources/{source_id}", headers=org.headers["pipeline-manager"]
        ).status_code
        == 204
    )
    assert stub.sources == {}
    (workspace_id,) = stub.workspaces
    deleting = client.delete(f"/api/v1/orgs/{org.slug}", headers=org.headers["super-admin"])
    assert deleting.status_code == 202
    wait_until(lambda: not stub.workspaces, 120, "the org's workspace deleted")
    assert f"/api/public/v1/workspaces/{workspace_id}" in stub.calls("DELETE", "/api/public/v1/workspaces/")
