"""The warehouse routes on real Postgres databases and DuckDB files (BigQuery cannot run here:
only its configuration errors are checked)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg2
from fastapi.testclient import TestClient

from dalgo.settings import Settings
from tests.secret_scan import ResponseRecorder
from tests.support.accounts import OrgWithRoles
from tests.support.network import free_port
from tests.support.runs import org_run_parameters_and_logs, wait_for_run
from tests.support.waiting import wait_until
from tests.support.warehouses import postgres_body


def fill(url: str) -> None:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA staging")
        cursor.execute("CREATE TABLE staging.people (id int, name text, joined timestamptz, score numeric)")
        cursor.execute(
            "INSERT INTO staging.people"
            " SELECT i, 'person ' || i, now(), i * 1.5 FROM generate_series(1, 30) i"
        )
    connection.close()


def test_a_postgres_warehouse_is_checked_saved_masked_listed_and_previewed(
    client: TestClient, make_database: Callable[[str], str], make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    url = make_database("wh")
    fill(url)
    body = postgres_body(url)
    manager = org.headers["account-manager"]
    assert client.get(f"/api/v1/orgs/{org.slug}/warehouse", headers=manager).status_code == 404

    saved = client.put(f"/api/v1/orgs/{org.slug}/warehouse", json=body, headers=manager)
    assert saved.status_code == 200, saved.text
    assert saved.json()["password"] == "********"
    assert saved.json()["host"] == "127.0.0.1" and saved.json()["schema"] == "analytics"
    read = client.get(f"/api/v1/orgs/{org.slug}/warehouse", headers=org.headers["guest"])
    assert read.json() == saved.json()

    tables = client.get(f"/api/v1/orgs/{org.slug}/warehouse/tables", headers=org.headers["guest"]).json()
    assert {"schema": "staging", "table": "people"} in tables
    preview = client.get(
        f"/api/v1/orgs/{org.slug}/warehouse/tables/staging/people?limit=5", headers=org.headers["guest"]
    ).json()
    assert preview["columns"] == ["id", "name", "joined", "score"]
    assert len(preview["rows"]) == 5
    crafted = client.get(
        f"/api/v1/orgs/{org.slug}/warehouse/tables/staging/people; DROP TABLE staging.people",
        headers=org.headers["guest"],
    )
    assert crafted.status_code == 404
    assert {"schema": "staging", "table": "people"} in client.get(
        f"/api/v1/orgs/{org.slug}/warehouse/tables", headers=org.headers["guest"]
    ).json()

    no_password = {k: v for k, v in body.items() if k != "password"}
    kept = client.put(f"/api/v1/orgs/{org.slug}/warehouse", json=no_password, headers=manager)
    assert kept.status_code == 200 and kept.json()["password"] == "********"

    assert (
        client.delete(
            f"/api/v1/orgs/{org.slug}/warehouse", headers=org.headers["pipeline-manager"]
        ).status_code
        == 403
    )
    assert client.delete(f"/api/v1/orgs/{org.slug}/warehouse", headers=manager).status_code == 204
    assert client.get(f"/api/v1/orgs/{org.slug}/warehouse", headers=manager).status_code == 404


def test_a_warehouse_that_does_not_answer_is_refused_with_the_reason(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles], make_database: Callable[[str], str]
) -> None:
    org = make_org_with_roles()
    headers = org.headers["account-manager"]
    url = make_database("wh")
    missing = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json=postgres_body(url, database="no_such_db"), headers=headers
    )
    assert missing.status_code == 422
    assert 'database "no_such_db" does not exist' in missing.json()["detail"]
    refused = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json=postgres_body(url, port=free_port()), headers=headers
    )
    assert refused.status_code == 422
    assert "refused" in refused.json()["detail"].lower()
    assert client.get(f"/api/v1/orgs/{org.slug}/warehouse", headers=headers).status_code == 404

    bigquery = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse",
        json={"type": "bigquery", "project": "p", "dataset": "d", "credentials_json": "{not json"},
        headers=headers,
    )
    assert bigquery.status_code == 422
    assert "{not json" not in bigquery.text
    unknown_type = client.put(f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "oracle"}, headers=headers)
    assert unknown_type.status_code == 422
    escape = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse",
        json={"type": "duckdb", "path": "../other/warehouse.duckdb"},
        headers=headers,
    )
    assert escape.status_code == 422 and "inside the organization's own folder" in escape.text


def test_a_duckdb_warehouse_lives_in_the_orgs_folder(
    client: TestClient, settings: Settings, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    saved = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "duckdb"}, headers=org.headers["super-admin"]
    )
    assert saved.status_code == 200, saved.text
    path = settings.org_home(org.slug) / "warehouse.duckdb"
    assert saved.json()["path"] == str(path)
    assert path.exists()
    import duckdb

    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE main.trees AS SELECT range AS id, 'oak' AS kind FROM range(7)")
    tables = client.get(f"/api/v1/orgs/{org.slug}/warehouse/tables", headers=org.headers["guest"]).json()
    assert {"schema": "main", "table": "trees"} in tables
    preview = client.get(
        f"/api/v1/orgs/{org.slug}/warehouse/tables/main/trees?limit=3", headers=org.headers["guest"]
    )
    assert preview.json() == {"columns": ["id", "kind"], "rows": [[0, "oak"], [1, "oak"], [2, "oak"]]}


def test_the_warehouse_check_runs_as_a_flow_run(
    client: TestClient,
    worker: str,
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[[], OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    url = make_database("wh")
    assert (
        client.put(
            f"/api/v1/orgs/{org.slug}/warehouse", json=postgres_body(url), headers=org.headers["super-admin"]
        ).status_code
        == 200
    )
    refused = client.post(f"/api/v1/orgs/{org.slug}/warehouse/check", headers=org.headers["guest"])
    assert refused.status_code == 403, "a guest may not start worker runs"
    started = client.post(f"/api/v1/orgs/{org.slug}/warehouse/check", headers=org.headers["account-manager"])
    assert started.status_code == 202
    detail = wait_for_run(client, org.slug, started.json()["flow_run_id"], org.headers["guest"])
    assert detail["state"] == "completed" and detail["kind"] == "check"
    assert detail["result"]["ok"] is True  # type: ignore[index]


def test_a_warehouse_password_appears_in_no_response_parameter_or_log(
    client: TestClient,
    worker: str,
    settings: Settings,
    recorder: ResponseRecorder,
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[[], OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    body = postgres_body(make_database("wh"))
    password = str(body["password"])
    headers = org.headers["super-admin"]
    assert client.put(f"/api/v1/orgs/{org.slug}/warehouse", json=body, headers=headers).status_code == 200
    client.get(f"/api/v1/orgs/{org.slug}/warehouse", headers=headers)
    run_id = client.post(f"/api/v1/orgs/{org.slug}/warehouse/check", headers=headers).json()["flow_run_id"]
    wait_for_run(client, org.slug, run_id, headers)
    client.get(f"/api/v1/orgs/{org.slug}/runs/{run_id}/logs", headers=headers)
    client.get(f"/api/v1/orgs/{org.slug}/runs", headers=headers)

    for method, url, text in recorder.bodies:
        assert password not in text, f"{method} {url} answered the password"

    # A run's last log lines reach Prefect in a batch shortly after the run ends.
    def logged() -> tuple[str, str] | None:
        parameters, logs = org_run_parameters_and_logs(settings, org.slug)
        return (parameters, logs) if "Checking the postgres warehouse" in logs else None

    parameters, logs = wait_until(logged, 60, "the check's log line in Prefect")
    assert org.slug in parameters and password not in parameters
    assert "Checking the postgres warehouse" in logs and password not in logs
