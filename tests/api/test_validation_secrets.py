"""A body that fails validation is answered without the values it held: a secret sent with a
missing or wrong field is never echoed back in the 422's `detail`."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.secrets_registry import GIT_TOKEN, new_secret, register_secret
from tests.support.accounts import OrgWithRoles


def test_a_body_that_fails_validation_is_not_echoed_back(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    manager = org.headers["account-manager"]
    password = new_secret("pw")
    warehouse = f"/api/v1/orgs/{org.slug}/warehouse"

    missing_host = {"type": "postgres", "database": "d", "user": "u", "password": password}
    unknown_type = {"type": "snowflake", "account": "a", "password": password}
    bad_port = {**missing_host, "host": "127.0.0.1", "port": "not a port"}
    no_url = {"git_token": GIT_TOKEN, "target_schema": "analytics"}
    long_password = register_secret("x" * 1025)
    answers = [
        client.put(warehouse, json=missing_host, headers=manager),
        client.put(warehouse, json=unknown_type, headers=manager),
        client.put(warehouse, json=bad_port, headers=manager),
        client.put(f"/api/v1/orgs/{org.slug}/dbt", json=no_url, headers=org.headers["analyst"]),
        client.post("/api/v1/invitations/accept", json={"code": "some-code", "password": long_password}),
    ]

    for answer in answers:
        assert answer.status_code == 422, answer.text
        for secret in (password, GIT_TOKEN, long_password):
            assert secret not in answer.text, f"{answer.request.method} {answer.request.url} echoed a secret"
        for error in answer.json()["detail"]:
            assert set(error) <= {"loc", "msg", "type", "ctx"}, error
    missing, unknown, port, url, too_long = (answer.json()["detail"] for answer in answers)
    assert ["body", "PostgresWarehouseCreate", "host"] in [e["loc"] for e in missing]
    assert any("'postgres'" in e["msg"] for e in unknown), "the answer says which types there are"
    assert ["body", "PostgresWarehouseCreate", "port"] in [e["loc"] for e in port]
    assert [e["loc"] for e in url] == [["body", "git_url"]]
    assert [(e["loc"], e["type"]) for e in too_long] == [(["body", "password"], "string_too_long")]
