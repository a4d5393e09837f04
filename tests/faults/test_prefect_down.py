"""The Prefect server gone, for an API of its own: a TCP proxy between that API and the session's
real Prefect server stops passing traffic, as a stopped server (connections refused, open ones
reset) or as a host that stopped answering (connections accepted, never answered). The server
itself keeps running for the rest of the suite.

While Prefect is gone every route that needs it answers 503 with a sentence within seconds, the
routes that do not need it keep answering, and health says what is down; once the proxy passes
traffic again the same routes answer as before, without restarting the API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient

from dalgo.deployments.client import PrefectUnavailableError, prefect_client
from dalgo.deployments.factory import OrgDeploymentSpec, Schedule, apply_org_deployment
from dalgo.settings import Settings
from tests.faults.support import ANSWER_BOUND_S, Call, answers, own_api, timed
from tests.secret_scan import ResponseRecorder
from tests.support.accounts import PASSWORD, OrgWithRoles, unique_slug
from tests.tcp_proxy import TcpProxy, tcp_proxy

PREFECT_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def prefect_proxy(prefect_api_url: str) -> Iterator[TcpProxy]:
    upstream = httpx.URL(prefect_api_url)
    assert upstream.port is not None
    with tcp_proxy(upstream.host, upstream.port) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def behind_proxy(
    settings: Settings, client: TestClient, prefect_proxy: TcpProxy, recorder: ResponseRecorder
) -> Iterator[TestClient]:
    """An API whose Prefect server is reached through the proxy."""
    proxied = settings.model_copy(
        update={
            "prefect_api_url": f"http://127.0.0.1:{prefect_proxy.port}/api",
            "prefect_timeout_s": PREFECT_TIMEOUT_S,
        }
    )
    with own_api(proxied, recorder) as api:
        yield api


@dataclass
class Calls:
    needing_prefect: list[Call]
    without_prefect: list[Call]


@pytest.fixture(scope="module")
def calls(behind_proxy: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]) -> Calls:
    """An org with a warehouse and a run, and the calls made to it."""
    org = make_org_with_roles()
    admin = org.headers["super-admin"]
    base = f"/api/v1/orgs/{org.slug}"
    saved = behind_proxy.put(f"{base}/warehouse", json={"type": "duckdb"}, headers=admin)
    assert saved.status_code == 200, saved.text
    started = behind_proxy.post(f"{base}/warehouse/check", headers=admin)
    assert started.status_code == 202, started.text
    run = started.json()["flow_run_id"]
    email = org.users["super-admin"].email
    return Calls(
        needing_prefect=[
            Call("GET", f"{base}/runs", admin),
            Call("GET", f"{base}/runs/{run}", admin),
            Call("GET", f"{base}/runs/{run}/logs", admin),
            Call("GET", f"{base}/pipelines", admin),
            Call("GET", f"{base}/sources", admin),
            Call("GET", f"{base}/warehouse", admin),
            Call("PUT", f"{base}/warehouse", admin, {"type": "duckdb"}),
            Call("POST", f"{base}/warehouse/check", admin),
        ],
        without_prefect=[
            Call("POST", "/api/v1/auth/login", None, {"email": email, "password": PASSWORD}),
            Call("GET", "/api/v1/me", admin),
            Call("GET", "/api/v1/orgs", admin),
            Call("GET", f"{base}/members", admin),
            Call("GET", f"{base}/invitations", admin),
            Call("GET", "/api/v1/me/notifications", admin),
            Call("GET", f"{base}/audit-log", admin),
        ],
    )


@pytest.mark.parametrize("fault", ["refuse", "black-hole"])
def test_routes_answer_503_quickly_while_prefect_is_gone_and_recover_when_it_returns(
    behind_proxy: TestClient, prefect_proxy: TcpProxy, calls: Calls, fault: str
) -> None:
    before = answers(behind_proxy, calls.needing_prefect + calls.without_prefect)
    assert all(code < 400 for code in before.values()), before

    if fault == "refuse":
        prefect_proxy.refuse()
    else:
        prefect_proxy.black_hole()
    try:
        for call in calls.needing_prefect:
            response, took = timed(behind_proxy, call)
            assert response.status_code == 503, f"{call}: {response.status_code} {response.text}"
            detail = response.json()["detail"]
            assert isinstance(detail, str) and "(Prefect)" in detail and "try again" in detail, detail
            assert took < ANSWER_BOUND_S, f"{call} took {took:.1f} s"
        for call in calls.without_prefect:
            response, took = timed(behind_proxy, call)
            assert response.status_code == 200, f"{call}: {response.status_code} {response.text}"
            assert took < ANSWER_BOUND_S, f"{call} took {took:.1f} s"
        health, took = timed(behind_proxy, Call("GET", "/api/v1/health"))
        assert health.status_code == 503 and took < ANSWER_BOUND_S
        assert health.json()["database"] == "ok"
        assert health.json()["prefect"].startswith("error:")
    finally:
        prefect_proxy.pass_through()

    assert answers(behind_proxy, calls.needing_prefect + calls.without_prefect) == before
    assert behind_proxy.get("/api/v1/health").status_code == 200


def test_a_deployment_change_prefect_stops_answering_is_told_as_prefect_gone(
    settings: Settings, prefect_proxy: TcpProxy
) -> None:
    """A pipeline or connection change that Prefect stops answering in the middle raises
    PrefectUnavailableError, which the API answers 503 (try again) like any other route needing
    Prefect, not the factory's own error, which the routes answer 422 (a problem with the request)."""
    proxied = settings.model_copy(
        update={
            "prefect_api_url": f"http://127.0.0.1:{prefect_proxy.port}/api",
            "prefect_timeout_s": PREFECT_TIMEOUT_S,
        }
    )
    org = unique_slug()
    spec = OrgDeploymentSpec(
        org=org,
        kind="check",
        name="nightly-check",
        flow_name="check-warehouse",
        entrypoint="dalgo.flows.warehouse.check_warehouse",
        parameters={"org": org},
        schedule=Schedule("0 3 * * *", "UTC"),
    )

    async def apply() -> None:
        async with prefect_client(proxied) as client:
            await apply_org_deployment(client, proxied, spec)

    prefect_proxy.black_hole()
    try:
        with pytest.raises(PrefectUnavailableError):
            asyncio.run(apply())
    finally:
        prefect_proxy.pass_through()
