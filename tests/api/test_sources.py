"""Sources through the API with real connectors installed from PyPI (source-faker, source-file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from dalgo.settings import Settings
from tests.api.source_support import make_sftp_source, stored_source
from tests.secret_scan import ResponseRecorder
from tests.secrets_registry import new_secret
from tests.support.accounts import OrgWithRoles
from tests.support.runs import org_run_parameters_and_logs, wait_for_run


def test_definitions_and_their_specs(
    client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    headers = org.headers["guest"]
    definitions = client.get(f"/api/v1/orgs/{org.slug}/source-definitions", headers=headers).json()
    names = {d["name"] for d in definitions}
    assert {"source-faker", "source-file"} <= names
    spec = client.get(f"/api/v1/orgs/{org.slug}/source-definitions/source-faker/spec", headers=headers)
    assert spec.status_code == 200
    assert "count" in spec.json()["properties"]
    unknown = client.get(f"/api/v1/orgs/{org.slug}/source-definitions/source-nothing/spec", headers=headers)
    assert unknown.status_code == 404 and "source-nothing" in unknown.json()["detail"]


def test_a_config_that_fails_the_spec_is_refused_naming_the_field(
    client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    response = client.post(
        f"/api/v1/orgs/{org.slug}/sources",
        json={"name": "Fake", "definition": "source-faker", "config": {"count": "many"}},
        headers=org.headers["pipeline-manager"],
    )
    assert response.status_code == 422
    assert "count" in response.json()["detail"]
    assert client.get(f"/api/v1/orgs/{org.slug}/sources", headers=org.headers["guest"]).json()["count"] == 0


def test_create_read_update_check_discover_and_delete_a_source(
    client: TestClient, worker: str, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    manager = org.headers["pipeline-manager"]
    created = client.post(
        f"/api/v1/orgs/{org.slug}/sources",
        json={"name": "Fake people", "definition": "source-faker", "config": {"count": 50, "seed": 1}},
        headers=manager,
    )
    assert created.status_code == 201, created.text
    source = created.json()
    assert source["config"]["count"] == 50
    listed = client.get(f"/api/v1/orgs/{org.slug}/sources", headers=org.headers["guest"]).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == source["id"]
    url = f"/api/v1/orgs/{org.slug}/sources/{source['id']}"
    renamed = client.put(
        url, json={"name": "Fake folks", "config": {"count": 20, "seed": 1}}, headers=manager
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Fake folks"
    assert renamed.json()["config"]["count"] == 20

    for action in ("check", "discover"):
        refused = client.post(f"{url}/{action}", headers=org.headers["guest"])
        assert refused.status_code == 403, "a guest may not start worker runs"
    check = client.post(f"{url}/check", headers=manager)
    assert check.status_code == 202
    checked = wait_for_run(client, org.slug, check.json()["flow_run_id"], org.headers["guest"], timeout_s=300)
    assert checked["kind"] == "check" and checked["result"]["ok"] is True, checked  # type: ignore[index]
    discover = client.post(f"{url}/discover", headers=manager)
    discovered = wait_for_run(
        client, org.slug, discover.json()["flow_run_id"], org.headers["guest"], timeout_s=300
    )
    assert discovered["kind"] == "discover"
    streams = {s["name"] for s in discovered["result"]["streams"]}  # type: ignore[index]
    assert {"users", "products", "purchases"} <= streams

    assert client.delete(url, headers=org.headers["analyst"]).status_code == 403
    assert client.delete(url, headers=manager).status_code == 204
    assert client.get(url, headers=manager).status_code == 404
    assert client.post(f"{url}/check", headers=manager).status_code == 404


def test_secret_fields_are_masked_kept_and_never_answered(
    client: TestClient,
    worker: str,
    settings: Settings,
    recorder: ResponseRecorder,
    tmp_path: Path,
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    manager = org.headers["pipeline-manager"]
    password = new_secret("sftp")
    created = make_sftp_source(client, org, password)
    assert created["config"]["provider"]["password"] == "********"
    url = f"/api/v1/orgs/{org.slug}/sources/{created['id']}"
    kept = client.put(url, json={"config": created["config"]}, headers=manager)
    assert kept.status_code == 200
    client.get(url, headers=org.headers["guest"])
    client.get(f"/api/v1/orgs/{org.slug}/sources", headers=org.headers["guest"])

    assert stored_source(settings, org.slug, created["id"])[1] == {"provider.password": password}

    check = client.post(f"{url}/check", headers=manager)
    checked = wait_for_run(client, org.slug, check.json()["flow_run_id"], org.headers["guest"], timeout_s=300)
    assert checked["result"]["ok"] is False  # type: ignore[index]
    client.get(f"/api/v1/orgs/{org.slug}/runs/{check.json()['flow_run_id']}/logs", headers=manager)

    parameters, logs = org_run_parameters_and_logs(settings, org.slug)
    assert "source_id" in parameters and password not in parameters
    assert "Checking Field data" in logs and password not in logs
    for method, address, body in recorder.bodies:
        assert password not in body, f"{method} {address} answered the password"


def test_another_orgs_source_answers_404(
    client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    theirs, mine = make_org_with_roles(), make_org_with_roles()
    created = client.post(
        f"/api/v1/orgs/{theirs.slug}/sources",
        json={"name": "Theirs", "definition": "source-faker", "config": {"count": 5}},
        headers=theirs.headers["super-admin"],
    ).json()
    headers = mine.headers["super-admin"]
    base = f"/api/v1/orgs/{mine.slug}/sources/{created['id']}"
    for method, path in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/check"), ("POST", "/discover")):
        response = client.request(
            method, base + path, headers=headers, json={"name": "x"} if method == "PUT" else None
        )
        assert response.status_code == 404, (method, path)
    assert client.get(f"/api/v1/orgs/{mine.slug}/sources", headers=headers).json()["count"] == 0
