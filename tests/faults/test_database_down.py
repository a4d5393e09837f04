"""The API database gone, for an API of its own: a TCP proxy between that API and the session's
Postgres stops passing traffic, as a stopped database (connections refused, open ones reset) or as
a host that stopped answering (new connections never answered; the open ones are ended, as the
network stack does once `tcp_user_timeout` passes). Postgres itself keeps running for the suite.

While the database is gone every route that reads it answers 503 with a sentence within seconds,
what needs no database (the API's description) keeps answering, and health says what is down;
once the proxy passes traffic again the same routes answer as before, without restarting the API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from dalgo.api.main import DATABASE_UNAVAILABLE
from dalgo.settings import Settings
from tests.faults.support import ANSWER_BOUND_S, Call, answers, own_api, timed
from tests.secret_scan import ResponseRecorder
from tests.support.accounts import PASSWORD, OrgWithRoles
from tests.tcp_proxy import TcpProxy, tcp_proxy

DATABASE_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def database_proxy(settings: Settings) -> Iterator[TcpProxy]:
    upstream = make_url(str(settings.database_url))
    with tcp_proxy(upstream.host or "127.0.0.1", upstream.port or 5432) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def behind_proxy(
    settings: Settings, client: TestClient, database_proxy: TcpProxy, recorder: ResponseRecorder
) -> Iterator[TestClient]:
    """An API whose database is reached through the proxy (the session's API database)."""
    url = make_url(str(settings.database_url)).set(host="127.0.0.1", port=database_proxy.port)
    proxied = settings.model_copy(
        update={
            "database_url": url.render_as_string(hide_password=False),
            "database_timeout_s": DATABASE_TIMEOUT_S,
        }
    )
    with own_api(proxied, recorder) as api:
        yield api


@dataclass
class Calls:
    needing_database: list[Call]
    without_database: list[Call]


@pytest.fixture(scope="module")
def calls(behind_proxy: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]) -> Calls:
    org = make_org_with_roles()
    admin = org.headers["super-admin"]
    base = f"/api/v1/orgs/{org.slug}"
    email = org.users["super-admin"].email
    return Calls(
        needing_database=[
            Call("POST", "/api/v1/auth/login", None, {"email": email, "password": PASSWORD}),
            Call("GET", "/api/v1/me", admin),
            Call("GET", "/api/v1/orgs", admin),
            Call("GET", f"{base}/members", admin),
            Call("GET", "/api/v1/me/notifications", admin),
            Call("GET", f"{base}/audit-log", admin),
            Call("GET", f"{base}/runs", admin),
            Call("GET", f"{base}/pipelines", admin),
            Call("PUT", f"{base}/warehouse", admin, {"type": "duckdb"}),
        ],
        without_database=[Call("GET", "/openapi.json")],
    )


@pytest.mark.parametrize("fault", ["refuse", "black-hole"])
def test_routes_answer_503_quickly_while_the_database_is_gone_and_recover_when_it_returns(
    behind_proxy: TestClient, database_proxy: TcpProxy, calls: Calls, fault: str
) -> None:
    before = answers(behind_proxy, calls.needing_database + calls.without_database)
    assert all(code < 400 for code in before.values()), before

    if fault == "refuse":
        database_proxy.refuse()
    else:
        database_proxy.black_hole(hold_open=False)
    try:
        for call in calls.needing_database:
            response, took = timed(behind_proxy, call)
            assert response.status_code == 503, f"{call}: {response.status_code} {response.text}"
            assert response.json() == {"detail": DATABASE_UNAVAILABLE}
            assert took < ANSWER_BOUND_S, f"{call} took {took:.1f} s"
        for call in calls.without_database:
            response, took = timed(behind_proxy, call)
            assert response.status_code == 200, f"{call}: {response.status_code}"
            assert took < ANSWER_BOUND_S, f"{call} took {took:.1f} s"
        health, took = timed(behind_proxy, Call("GET", "/api/v1/health"))
        assert health.status_code == 503 and took < ANSWER_BOUND_S
        assert health.json()["prefect"] == "ok"
        assert health.json()["database"].startswith("error: OperationalError")
    finally:
        database_proxy.pass_through()

    assert answers(behind_proxy, calls.needing_database + calls.without_database) == before
    assert behind_proxy.get("/api/v1/health").status_code == 200
