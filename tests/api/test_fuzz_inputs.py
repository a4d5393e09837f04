"""What the fuzzing (tests/api/test_fuzz.py) found, each pinned by a test of its own: text the
database cannot be asked about (a NUL character) in a path segment or a query's filter answers a
4xx with a sentence, never a 500."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.support.accounts import OrgWithRoles


@pytest.fixture(scope="module")
def org(make_org_with_roles: Callable[[], OrgWithRoles]) -> OrgWithRoles:
    return make_org_with_roles()


@pytest.mark.parametrize("path", ["", "/sources", "/members", "/runs", "/warehouse", "/pipelines"])
def test_a_nul_in_the_org_segment_answers_404_as_for_any_org_not_among_yours(
    client: TestClient, org: OrgWithRoles, path: str
) -> None:
    response = client.get(f"/api/v1/orgs/{org.slug}%00{path}", headers=org.headers["account-manager"])
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == f"There is no organization '{org.slug}' among yours."


def test_a_nul_in_the_org_segment_of_the_platform_routes_answers_404(
    client: TestClient, org: OrgWithRoles, platform_admin: dict[str, str]
) -> None:
    response = client.get(f"/api/v1/platform/orgs/{org.slug}%00/execution", headers=platform_admin)
    assert response.status_code == 404, response.text
    assert response.json()["detail"].startswith("There is no organization")


@pytest.mark.parametrize("name", ["pipeline_id", "connection_id"])
def test_a_nul_in_a_runs_filter_answers_422_with_a_sentence(
    client: TestClient, org: OrgWithRoles, name: str
) -> None:
    response = client.get(
        f"/api/v1/orgs/{org.slug}/runs", params={name: "a\x00b"}, headers=org.headers["account-manager"]
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "A filter may not hold a NUL character."
