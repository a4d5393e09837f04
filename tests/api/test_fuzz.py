"""Fuzzing the API from its own /openapi.json with schemathesis, signed in as an account manager
of an org that holds a warehouse, a source, a connection and a pipeline.

Every operation gets a few generated requests (valid and invalid bodies, odd path segments, query
values at and past their bounds), sent through the session's TestClient so that the responses go
through the same recorder as the rest of the suite. Each answer must:

- never be a 5xx;
- when it is a 4xx, carry a `detail` a person can read: a sentence, or FastAPI's list of body
  errors each with its message;
- match the content type and schema the document declares.

The document declares only each operation's success and 422, not the 401/403/404/409 the routes
also answer, so schemathesis's status-code conformance check is not run.

The `{org}` path segment is the org's slug, and the ids of its source, connection and pipeline are
put in their path segments (except for DELETE, which gets the generated ones), so that the
requests reach the handlers, not only the membership check. Generated values for `{org}` itself
are covered by tests/api/test_fuzz_inputs.py.

Left out, and why:

- POST /auth/logout: it would revoke the token the rest of the run signs in with;
- POST /auth/login, /auth/password-reset, /auth/password-reset/confirm, /invitations/accept:
  their per-client limits are shared with the rest of the session, so a burst of failures here
  would turn other tests' sign-ins into 429s;
- POST connections/{id}/sync, pipelines/{id}/run, dbt/operations, sources/{id}/check,
  sources/{id}/discover, warehouse/check: they start real connector, dbt or database work that
  takes seconds to minutes each (those are covered by their own tests);
- DELETE warehouse and DELETE dbt: they would empty the org the other operations are fuzzed in.

Bounded to stay within a few minutes on a loaded 2-core machine: 4 examples per operation, no
per-example deadline, no shrinking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api.connection_support import make_connection
from tests.support.accounts import OrgWithRoles
from tests.support.warehouses import postgres_body

EXCLUDED: tuple[tuple[str, str], ...] = (
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/invitations/accept"),
    ("POST", "/api/v1/orgs/{org}/connections/{connection_id}/sync"),
    ("POST", "/api/v1/orgs/{org}/pipelines/{pipeline_id}/run"),
    ("POST", "/api/v1/orgs/{org}/dbt/operations"),
    ("POST", "/api/v1/orgs/{org}/sources/{source_id}/check"),
    ("POST", "/api/v1/orgs/{org}/sources/{source_id}/discover"),
    ("POST", "/api/v1/orgs/{org}/warehouse/check"),
    ("DELETE", "/api/v1/orgs/{org}/warehouse"),
    ("DELETE", "/api/v1/orgs/{org}/dbt"),
)


@dataclass
class FuzzedOrg:
    """The org the fuzzing signs in to, and the ids of the objects in it."""

    org: OrgWithRoles
    ids: dict[str, str]

    @property
    def headers(self) -> dict[str, str]:
        return self.org.headers["account-manager"]


@pytest.fixture(scope="module")
def fuzzed_org(
    client: TestClient,
    make_org_with_roles: Callable[[], OrgWithRoles],
    make_database: Callable[[str], str],
) -> FuzzedOrg:
    """An org with a Postgres warehouse, a source-faker source, a connection and a pipeline."""
    org = make_org_with_roles()
    base = f"/api/v1/orgs/{org.slug}"
    manager = org.headers["account-manager"]
    warehouse = client.put(f"{base}/warehouse", json=postgres_body(make_database("fuzz")), headers=manager)
    assert warehouse.status_code == 200, warehouse.text
    connection_id = make_connection(client, org)
    source_id = client.get(f"{base}/connections/{connection_id}", headers=manager).json()["source_id"]
    pipeline = client.post(
        f"{base}/pipelines",
        json={"name": "Nightly", "steps": [{"type": "sync", "connection_id": connection_id}]},
        headers=org.headers["pipeline-manager"],
    )
    assert pipeline.status_code == 201, pipeline.text
    ids = {"source_id": source_id, "connection_id": connection_id, "pipeline_id": str(pipeline.json()["id"])}
    return FuzzedOrg(org, ids)


@pytest.fixture(scope="module")
def api_schema(client: TestClient) -> Any:
    """The API's OpenAPI document as the app serves it, loaded for schemathesis."""
    document = client.get("/openapi.json")
    assert document.status_code == 200
    return schemathesis.openapi.from_dict(document.json())


def readable_detail(response: httpx.Response) -> str | None:
    """Why a 4xx's body is not readable by a person, or None when it is."""
    try:
        body = response.json()
    except ValueError:
        return f"the body is not JSON: {response.text[:200]!r}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        if " " not in detail.strip() or len(detail.strip()) < 8:
            return f"`detail` is a code, not a sentence: {detail!r}"
        return None
    if (
        isinstance(detail, list)
        and detail
        and all(isinstance(item, dict) and str(item.get("msg", "")).strip() for item in detail)
    ):
        return None
    return f"no readable `detail`: {body!r}"


def send(client: TestClient, kwargs: dict[str, Any]) -> httpx.Response:
    """Sends a case serialized for `requests` through the session's (httpx) TestClient."""
    data = kwargs.pop("data", None)
    files = kwargs.pop("files", None)
    kwargs.pop("cookies", None)
    if isinstance(data, (bytes, str)):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    if files is not None:
        kwargs["files"] = files
    allowed = {"method", "url", "headers", "params", "json", "content", "data", "files"}
    response: httpx.Response = client.request(
        **{key: value for key, value in kwargs.items() if key in allowed}
    )
    return response


def fuzz_operation(operation: Any, client: TestClient, fuzzed_org: FuzzedOrg) -> None:
    """Sends a few generated requests to one operation and checks each answer."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=4,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        if case.path_parameters is not None and "org" in case.path_parameters:
            case.path_parameters["org"] = fuzzed_org.org.slug
            if case.method.upper() != "DELETE":
                for name, value in fuzzed_org.ids.items():
                    if name in case.path_parameters:
                        case.path_parameters[name] = value
        headers = {**fuzzed_org.headers}
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        response = send(client, kwargs)
        if 400 <= response.status_code < 500:
            problem = readable_detail(response)
            assert problem is None, f"{case.method} {case.formatted_path}: {response.status_code}: {problem}"
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                content_type_conformance,
                response_schema_conformance,
            ],
            headers=headers,
            transport_kwargs=kwargs,
        )

    check()


def test_no_operation_answers_5xx_or_an_unreadable_4xx_or_off_its_schema(
    api_schema: Any, client: TestClient, fuzzed_org: FuzzedOrg
) -> None:
    schema = api_schema
    for method, path in EXCLUDED:
        schema = schema.exclude(method=method, path=path)
    failures: list[str] = []
    fuzzed = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        fuzzed += 1
        try:
            fuzz_operation(operation, client, fuzzed_org)
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 (every operation's failure is told at the end)
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert fuzzed > 40
    assert not failures, "\n\n".join(failures)
