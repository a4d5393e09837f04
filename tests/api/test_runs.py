"""Runs and logs through the API: real flow runs on the session's Prefect server and worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prefect.states import Scheduled

from dalgo.deployments.client import prefect_client
from dalgo.deployments.operations import CHECK_WAREHOUSE, ensure_operation_deployment
from dalgo.naming import kind_tag, org_tag
from dalgo.settings import Settings
from tests.run_logs import log_messages_once_there
from tests.support.accounts import OrgWithRoles
from tests.support.runs import wait_for_run


def start_check(client: TestClient, org: OrgWithRoles, role: str = "account-manager") -> str:
    response = client.post(f"/api/v1/orgs/{org.slug}/warehouse/check", headers=org.headers[role])
    assert response.status_code == 202, response.text
    return str(response.json()["flow_run_id"])


def test_a_check_run_is_listed_read_and_logged(
    client: TestClient, worker: str, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    headers = org.headers["guest"]
    run_id = start_check(client, org)
    detail = wait_for_run(client, org.slug, run_id, headers)
    assert detail["state"] == "completed"
    assert detail["kind"] == "check"
    assert detail["triggered_by"] == org.users["account-manager"].email
    assert str(detail["name"]).startswith(f"{org.slug}--check-warehouse-")
    assert detail["result"] == {
        "ok": False,
        "message": f"The organization '{org.slug}' has no warehouse yet.",
    }
    assert detail["start_time"] and detail["end_time"] and isinstance(detail["duration_s"], float)

    listed = client.get(f"/api/v1/orgs/{org.slug}/runs", headers=headers).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == run_id
    assert client.get(f"/api/v1/orgs/{org.slug}/runs?state=completed", headers=headers).json()["count"] == 1
    assert client.get(f"/api/v1/orgs/{org.slug}/runs?state=failed", headers=headers).json()["count"] == 0
    bad_state = client.get(f"/api/v1/orgs/{org.slug}/runs?state=exploded", headers=headers)
    assert bad_state.status_code == 422

    log_messages_once_there(client, org.slug, run_id, headers, "has no warehouse yet")
    logs = client.get(f"/api/v1/orgs/{org.slug}/runs/{run_id}/logs", headers=headers).json()
    timestamps = [entry["timestamp"] for entry in logs["data"]]
    assert timestamps == sorted(timestamps)
    assert logs["next_offset"] is None
    warnings = client.get(f"/api/v1/orgs/{org.slug}/runs/{run_id}/logs?level=warning", headers=headers).json()
    assert warnings["data"] and all(e["level"] in ("warning", "error", "critical") for e in warnings["data"])
    first = client.get(f"/api/v1/orgs/{org.slug}/runs/{run_id}/logs?limit=1", headers=headers).json()
    assert first["data"] == logs["data"][:1] and first["next_offset"] == 1


def test_another_orgs_run_answers_404(
    client: TestClient, worker: str, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    theirs, mine = make_org_with_roles(), make_org_with_roles()
    run_id = start_check(client, theirs)
    headers = mine.headers["super-admin"]
    for method, path in (("GET", ""), ("GET", "/logs"), ("POST", "/cancel")):
        response = client.request(method, f"/api/v1/orgs/{mine.slug}/runs/{run_id}{path}", headers=headers)
        assert response.status_code == 404, path
        assert response.json()["detail"] == "This organization has no run with that id."
    missing = client.get(f"/api/v1/orgs/{mine.slug}/runs/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404
    assert client.get(f"/api/v1/orgs/{mine.slug}/runs", headers=headers).json()["count"] == 0
    wait_for_run(client, theirs.slug, run_id, theirs.headers["guest"])


def test_cancelling_a_scheduled_run(
    client: TestClient, settings: Settings, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    """A run scheduled for tomorrow is cancelled through the API; a second cancel is refused."""
    org = make_org_with_roles()

    async def schedule_tomorrow() -> str:
        async with prefect_client(settings) as prefect:
            deployment_id = await ensure_operation_deployment(prefect, settings, CHECK_WAREHOUSE)
            run = await prefect.create_flow_run_from_deployment(
                deployment_id,
                parameters={"org": org.slug},
                tags=[org_tag(org.slug), kind_tag("check")],
                state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(days=1)),
            )
            return str(run.id)

    run_id = asyncio.run(schedule_tomorrow())
    url = f"/api/v1/orgs/{org.slug}/runs/{run_id}"
    assert client.get(url, headers=org.headers["guest"]).json()["state"] == "scheduled"
    assert client.get(url, headers=org.headers["guest"]).json()["triggered_by"] == "schedule"
    assert client.post(f"{url}/cancel", headers=org.headers["analyst"]).status_code == 403
    assert client.post(f"{url}/cancel", headers=org.headers["pipeline-manager"]).status_code == 202
    state = client.get(url, headers=org.headers["guest"]).json()["state"]
    assert state in ("cancelling", "cancelled")
    if state == "cancelled":
        again = client.post(f"{url}/cancel", headers=org.headers["pipeline-manager"])
        assert again.status_code == 409 and "already ended" in again.json()["detail"]
