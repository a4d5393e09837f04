"""Connections and syncs with the embedded engine: real connectors (source-faker, source-file)
run through PyAirbyte into real Postgres databases and DuckDB files, on the session's worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg2
from fastapi.testclient import TestClient

from dalgo.connectors.install import is_installed
from dalgo.settings import Settings
from tests.api.connection_support import add_connection, add_source
from tests.connectors.https_files import serve_https
from tests.support.accounts import OrgWithRoles
from tests.support.runs import wait_for_run
from tests.support.waiting import wait_until
from tests.support.warehouses import open_duckdb, postgres_body

SYNC_TIMEOUT_S = 400


def _sync(client: TestClient, org: OrgWithRoles, connection_id: str) -> dict[str, object]:
    started = client.post(
        f"/api/v1/orgs/{org.slug}/connections/{connection_id}/sync", headers=org.headers["pipeline-manager"]
    )
    assert started.status_code == 202, started.text
    return wait_for_run(
        client, org.slug, started.json()["flow_run_id"], org.headers["guest"], timeout_s=SYNC_TIMEOUT_S
    )


def _count(url: str, table: str) -> int:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")
            row = cursor.fetchone()
            assert row is not None
            return int(row[0])
    finally:
        connection.close()


def test_faker_into_postgres_twice_with_a_409_while_it_runs(
    client: TestClient,
    settings: Settings,
    worker: str,
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    url = make_database("sync")
    assert (
        client.put(
            f"/api/v1/orgs/{org.slug}/warehouse", json=postgres_body(url), headers=org.headers["super-admin"]
        ).status_code
        == 200
    )
    source_id = add_source(client, org, "source-faker", {"count": 40, "seed": 7})
    connection_id = add_connection(client, org, source_id, ["users"], "raw")
    assert (
        client.post(
            f"/api/v1/orgs/{org.slug}/connections/{connection_id}/sync", headers=org.headers["analyst"]
        ).status_code
        == 403
    )

    first = client.post(
        f"/api/v1/orgs/{org.slug}/connections/{connection_id}/sync", headers=org.headers["pipeline-manager"]
    )
    assert first.status_code == 202
    run_id = first.json()["flow_run_id"]
    second = client.post(
        f"/api/v1/orgs/{org.slug}/connections/{connection_id}/sync", headers=org.headers["pipeline-manager"]
    )
    assert second.status_code == 409
    assert second.json()["holder_run_id"] == run_id
    listed = client.get(f"/api/v1/orgs/{org.slug}/connections", headers=org.headers["guest"]).json()
    assert listed["count"] == 1 and listed["data"][0]["locked_by"]["id"] == run_id

    detail = wait_for_run(client, org.slug, run_id, org.headers["guest"], timeout_s=SYNC_TIMEOUT_S)
    assert detail["state"] == "completed", detail
    assert detail["kind"] == "sync"
    result = detail["result"]
    assert isinstance(result, dict)
    assert result["streams"]["users"]["records"] == 40
    assert result["streams"]["users"]["bytes"] >= 0
    assert result["duration_s"] > 0
    assert _count(url, "raw.users") == 40
    # The API (the source's spec) and the run (the sync) use the connectors of DALGO_CONNECTORS_DIR.
    assert is_installed("source-faker", settings.resolved_connectors_dir)
    assert not (settings.resolved_home / "connectors").exists()

    again = _sync(client, org, connection_id)
    assert again["state"] == "completed", again
    assert _count(url, "raw.users") == 40
    preview = client.get(
        f"/api/v1/orgs/{org.slug}/warehouse/tables/raw/users?limit=3", headers=org.headers["guest"]
    )
    assert preview.status_code == 200 and len(preview.json()["rows"]) == 3
    runs = client.get(
        f"/api/v1/orgs/{org.slug}/runs?connection_id={connection_id}", headers=org.headers["guest"]
    ).json()
    assert runs["count"] == 2
    shown = client.get(
        f"/api/v1/orgs/{org.slug}/connections/{connection_id}", headers=org.headers["guest"]
    ).json()
    assert shown["locked_by"] is None and shown["last_run"]["state"] == "completed"


def test_a_csv_file_into_duckdb(
    client: TestClient,
    worker: str,
    tmp_path: Path,
    settings: Settings,
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    csv = tmp_path / "trees.csv"
    csv.write_text("id,kind,height\n" + "".join(f"{i},oak,{i * 1.5}\n" for i in range(25)))
    saved = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "duckdb"}, headers=org.headers["super-admin"]
    )
    assert saved.status_code == 200
    with serve_https(tmp_path, settings.resolved_connectors_dir) as served:
        source_id = add_source(
            client,
            org,
            "source-file",
            {
                "dataset_name": "trees",
                "format": "csv",
                "url": served.url("trees.csv"),
                "provider": {"storage": "HTTPS"},
            },
        )
        connection_id = add_connection(client, org, source_id, None, "field_data")
        detail = _sync(client, org, connection_id)
    assert detail["state"] == "completed", detail
    with open_duckdb(saved.json()["path"]) as connection:
        row = connection.execute("SELECT count(*), max(height) FROM field_data.trees").fetchone()
    assert row == (25, 36.0)


def test_faker_into_duckdb_resumes_from_its_saved_state(
    client: TestClient, worker: str, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    """Faker's `users` stream is incremental: with `always_updated` off, a second sync resumes from
    the state the first one saved with the data, and reads nothing new."""
    org = make_org_with_roles()
    saved = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "duckdb"}, headers=org.headers["super-admin"]
    )
    assert saved.status_code == 200
    source_id = add_source(client, org, "source-faker", {"count": 30, "seed": 11, "always_updated": False})
    connection_id = add_connection(client, org, source_id, ["users", "products"], "faker")
    first = _sync(client, org, connection_id)
    assert first["state"] == "completed", first
    assert isinstance(first["result"], dict)
    assert first["result"]["streams"]["users"]["records"] == 30
    second = _sync(client, org, connection_id)
    assert second["state"] == "completed", second
    assert isinstance(second["result"], dict)
    assert second["result"]["streams"].get("users", {"records": 0})["records"] == 0
    with open_duckdb(saved.json()["path"]) as connection:
        users = connection.execute("SELECT count(*), count(DISTINCT id) FROM faker.users").fetchone()
        products = connection.execute("SELECT count(*) FROM faker.products").fetchone()
    assert users == (30, 30)
    assert products is not None and products[0] > 0


def test_connections_of_a_missing_source_and_of_another_org(
    client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    theirs, mine = make_org_with_roles(), make_org_with_roles()
    source_id = add_source(client, theirs, "source-faker", {"count": 5})
    refused = client.post(
        f"/api/v1/orgs/{mine.slug}/connections",
        json={"name": "x", "source_id": source_id, "destination_schema": "raw"},
        headers=mine.headers["pipeline-manager"],
    )
    assert refused.status_code == 422 and "no source" in refused.json()["detail"]
    connection_id = add_connection(client, theirs, source_id, ["users"], "raw")
    base = f"/api/v1/orgs/{mine.slug}/connections/{connection_id}"
    headers = mine.headers["super-admin"]
    for method, path in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/sync")):
        response = client.request(method, base + path, headers=headers, json={} if method == "PUT" else None)
        assert response.status_code == 404, (method, path)
    own = f"/api/v1/orgs/{theirs.slug}/connections/{connection_id}"
    assert client.delete(own, headers=theirs.headers["pipeline-manager"]).status_code == 204
    assert client.get(own, headers=theirs.headers["guest"]).status_code == 404


def test_cancelling_a_running_sync_ends_it_and_its_connector(
    client: TestClient,
    worker: str,
    settings: Settings,
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    """A long faker sync is cancelled while it runs: the run ends cancelled, no connector process
    of it is left, and the connection's lock is free for the next sync."""
    org = make_org_with_roles()
    url = make_database("cancel")
    body = postgres_body(url)
    assert (
        client.put(
            f"/api/v1/orgs/{org.slug}/warehouse", json=body, headers=org.headers["super-admin"]
        ).status_code
        == 200
    )
    source_id = add_source(client, org, "source-faker", {"count": 5_000_000, "seed": 3})
    connection_id = add_connection(client, org, source_id, ["users"], "raw")
    started = client.post(
        f"/api/v1/orgs/{org.slug}/connections/{connection_id}/sync", headers=org.headers["pipeline-manager"]
    )
    run_id = started.json()["flow_run_id"]
    run_url = f"/api/v1/orgs/{org.slug}/runs/{run_id}"

    def connector_started() -> bool:
        if _connector_processes(settings):
            return True
        state = client.get(run_url, headers=org.headers["guest"]).json()["state"]
        assert state in ("scheduled", "pending", "running"), state
        return False

    wait_until(connector_started, SYNC_TIMEOUT_S, "the connector starting")

    assert client.post(f"{run_url}/cancel", headers=org.headers["pipeline-manager"]).status_code == 202
    detail = wait_for_run(client, org.slug, run_id, org.headers["guest"], timeout_s=120)
    assert detail["state"] == "cancelled", detail
    wait_until(lambda: not _connector_processes(settings), 30, "the connector processes ending")
    shown = client.get(
        f"/api/v1/orgs/{org.slug}/connections/{connection_id}", headers=org.headers["guest"]
    ).json()
    assert shown["locked_by"] is None


def _connector_processes(settings: Settings) -> list[psutil.Process]:
    """Running processes of the faker connector installed in the run's connectors folder."""
    folder = str(settings.resolved_connectors_dir)
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if folder in cmdline and "source-faker" in cmdline and " read " in f" {cmdline} ":
            found.append(process)
    return found
