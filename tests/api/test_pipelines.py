"""Pipelines through the API: create, read, change, pause, resume, delete, run now, validation,
time zones and the cost of the list in Prefect calls. Runs themselves are in tests/flows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prefect.client.base import PrefectHttpxAsyncClient
from prefect.concurrency.asyncio import concurrency

from dalgo.deployments.client import prefect_client
from dalgo.deployments.factory import find_org_deployment
from dalgo.deployments.fairness import org_run_limit
from dalgo.deployments.pipelines import find_pipeline
from dalgo.naming import connection_tag, lock_name
from dalgo.settings import Settings
from tests.api.connection_support import make_connection
from tests.support.accounts import OrgWithRoles


@dataclass
class Setup:
    org: OrgWithRoles
    other: OrgWithRoles
    connection_id: str
    other_connection_id: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"/api/v1/orgs/{self.org.slug}/pipelines"


@pytest.fixture(scope="module")
def setup(client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles]) -> Setup:
    org, other = make_org_with_roles(), make_org_with_roles()
    made = Setup(org, other, make_connection(client, org), make_connection(client, other))
    made.headers = org.headers["pipeline-manager"]
    return made


def body(setup: Setup, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Nightly",
        "steps": [
            {"type": "sync", "connection_id": setup.connection_id},
            {"type": "dbt", "command": "run", "select": "marts"},
        ],
        "schedule": {"cron": "0 9 * * *", "timezone": "Asia/Kolkata"},
    }
    values.update(changes)
    return values


def test_a_pipeline_is_made_read_changed_paused_resumed_and_deleted(client: TestClient, setup: Setup) -> None:
    made = client.post(setup.base, json=body(setup), headers=setup.headers)
    assert made.status_code == 201, made.text
    pipeline = made.json()
    url = f"{setup.base}/{pipeline['id']}"
    assert pipeline["name"] == "Nightly" and pipeline["paused"] is False
    assert pipeline["schedule"] == {"cron": "0 9 * * *", "timezone": "Asia/Kolkata"}
    assert pipeline["steps"][0] == {
        "type": "sync",
        "connection_id": setup.connection_id,
        "retries": None,
        "retry_delay_s": None,
    }
    assert pipeline["steps"][1]["command"] == "run" and pipeline["steps"][1]["select"] == "marts"
    assert pipeline["next_run"].endswith("03:30:00Z"), pipeline["next_run"]
    assert pipeline["last_run"] is None and pipeline["lock"] is None
    assert pipeline["continue_on_sync_failure"] is False

    guest = setup.org.headers["guest"]
    assert client.get(url, headers=guest).json() == pipeline
    listed = client.get(setup.base, headers=guest).json()
    assert listed["count"] >= 1 and pipeline["id"] in [p["id"] for p in listed["data"]]

    changed = client.put(
        url,
        json={"name": "Evening", "schedule": None, "continue_on_sync_failure": True},
        headers=setup.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Evening" and changed.json()["schedule"] is None
    assert changed.json()["next_run"] is None and changed.json()["continue_on_sync_failure"] is True
    assert changed.json()["steps"] == pipeline["steps"]
    rescheduled = client.put(url, json={"schedule": {"cron": "30 18 * * 1-5"}}, headers=setup.headers).json()
    assert rescheduled["schedule"] == {"cron": "30 18 * * 1-5", "timezone": "UTC"}
    assert rescheduled["next_run"].endswith("18:30:00Z") and rescheduled["name"] == "Evening"

    paused = client.post(f"{url}/pause", headers=setup.headers)
    assert paused.status_code == 200 and paused.json()["paused"] is True and paused.json()["next_run"] is None
    assert client.put(url, json={"name": "Still paused"}, headers=setup.headers).json()["paused"] is True
    resumed = client.post(f"{url}/resume", headers=setup.headers).json()
    assert resumed["paused"] is False and resumed["next_run"] is not None

    assert client.delete(url, headers=setup.org.headers["analyst"]).status_code == 403
    assert client.delete(url, headers=setup.headers).status_code == 204
    assert client.get(url, headers=guest).status_code == 404
    assert client.post(f"{url}/run", headers=setup.headers).status_code == 404


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"steps": []}, "A pipeline needs at least one step."),
        ({"schedule": {"cron": "0 25 * * *", "timezone": "UTC"}}, "is not a valid cron expression"),
        ({"schedule": {"cron": "daily", "timezone": "UTC"}}, "needs five fields"),
        ({"schedule": {"cron": "0 9 * * *", "timezone": "India/Delhi"}}, "is not an IANA time zone"),
        ({"steps": [{"type": "dbt", "command": "seedz"}]}, "Step 1: Unknown command 'seedz'"),
        (
            {"steps": [{"type": "dbt", "command": "run", "select": "--vars x"}]},
            "Step 1: '--vars' is not a dbt",
        ),
        ({"steps": [{"type": "dbt", "command": "deps", "full_refresh": True}]}, "full_refresh applies only"),
    ],
)
def test_invalid_pipelines_are_refused_with_the_reason(
    client: TestClient, setup: Setup, changes: dict[str, Any], expected: str
) -> None:
    refused = client.post(setup.base, json=body(setup, **changes), headers=setup.headers)
    assert refused.status_code == 422, refused.text
    assert expected in refused.json()["detail"]


def test_connections_of_another_org_or_none_are_refused(client: TestClient, setup: Setup) -> None:
    for connection_id in (setup.other_connection_id, str(uuid.uuid4())):
        steps = [{"type": "dbt", "command": "deps"}, {"type": "sync", "connection_id": connection_id}]
        refused = client.post(setup.base, json=body(setup, steps=steps), headers=setup.headers)
        assert refused.status_code == 422
        assert refused.json()["detail"] == (
            f"Step 2: this organization has no connection with the id {connection_id}."
        )
    theirs = client.post(
        f"/api/v1/orgs/{setup.other.slug}/pipelines",
        json={"name": "x", "steps": [{"type": "sync", "connection_id": setup.other_connection_id}]},
        headers=setup.other.headers["pipeline-manager"],
    )
    assert theirs.status_code == 201
    stranger = f"{setup.base}/{theirs.json()['id']}"
    for method, path in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/run"), ("POST", "/pause")):
        response = client.request(method, stranger + path, headers=setup.org.headers["super-admin"], json={})
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"] == "This organization has no pipeline with that id."


def test_run_now_refuses_while_a_resource_is_locked_or_a_run_is_under_way(
    client: TestClient, settings: Settings, setup: Setup
) -> None:
    made = client.post(
        setup.base,
        json={"name": "Manual", "steps": [{"type": "sync", "connection_id": setup.connection_id}]},
        headers=setup.headers,
    ).json()
    url = f"{setup.base}/{made['id']}"
    assert made["schedule"] is None and made["next_run"] is None
    resource = connection_tag(setup.connection_id)

    async def run_while_locked() -> httpx.Response:
        async with concurrency(lock_name(setup.org.slug, resource), lease_duration=60, strict=True):
            locked = await asyncio.to_thread(client.get, url, headers=setup.org.headers["guest"])
            assert locked.json()["lock"] == {"resource": resource, "holder_run_id": None, "since": None}
            return await asyncio.to_thread(client.post, f"{url}/run", headers=setup.headers)

    refused = asyncio.run(run_while_locked())
    assert refused.status_code == 409, refused.text
    assert refused.json()["resource"] == resource and "is locked" in refused.json()["detail"]

    assert client.post(f"{url}/run", headers=setup.org.headers["analyst"]).status_code == 403
    started = client.post(f"{url}/run", headers=setup.headers)
    assert started.status_code == 202, started.text
    run_id = started.json()["flow_run_id"]
    again = client.post(f"{url}/run", headers=setup.headers)
    assert again.status_code == 409 and again.json()["holder_run_id"] == run_id
    runs = client.get(
        f"/api/v1/orgs/{setup.org.slug}/runs?pipeline_id={made['id']}", headers=setup.org.headers["guest"]
    ).json()
    assert [r["id"] for r in runs["data"]] == [run_id]
    assert runs["data"][0]["kind"] == "pipeline" and runs["data"][0]["pipeline_id"] == made["id"]
    assert runs["data"][0]["triggered_by"] == setup.org.users["pipeline-manager"].email
    shown = client.get(url, headers=setup.org.headers["guest"]).json()
    assert shown["last_run"] is None or shown["last_run"]["id"] == run_id
    cancelled = client.post(f"/api/v1/orgs/{setup.org.slug}/runs/{run_id}/cancel", headers=setup.headers)
    assert cancelled.status_code in (202, 409)


@pytest.fixture()
def prefect_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths of the calls this process makes to Prefect (log shipping aside) while it is used."""
    calls: list[str] = []
    send = PrefectHttpxAsyncClient.send

    async def counted(
        self: PrefectHttpxAsyncClient, request: httpx.Request, *args: Any, **kwargs: Any
    ) -> Any:
        if "/logs" not in request.url.path:
            calls.append(f"{request.method} {request.url.path}")
        return await send(self, request, *args, **kwargs)

    monkeypatch.setattr(PrefectHttpxAsyncClient, "send", counted)
    yield calls


def test_the_list_costs_the_same_prefect_calls_for_one_or_many_pipelines(
    client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles], prefect_calls: list[str]
) -> None:
    org = make_org_with_roles()
    connection_id = make_connection(client, org)
    headers = org.headers["pipeline-manager"]
    base = f"/api/v1/orgs/{org.slug}/pipelines"

    def make(name: str) -> None:
        steps = [{"type": "sync", "connection_id": connection_id}, {"type": "dbt", "command": "build"}]
        response = client.post(base, json={"name": name, "steps": steps}, headers=headers)
        assert response.status_code == 201

    def list_calls() -> list[str]:
        prefect_calls.clear()
        listed = client.get(base, headers=org.headers["guest"])
        assert listed.status_code == 200
        return sorted(prefect_calls)

    make("first")
    one = list_calls()
    for index in range(6):
        make(f"more-{index}")
    many = list_calls()
    assert client.get(base, headers=headers).json()["count"] == 7
    assert one == many, (one, many)
    assert len(many) <= 6, many


def test_platform_admins_set_an_orgs_run_limit_and_where_its_runs_go(
    client: TestClient, settings: Settings, platform_admin: dict[str, str], setup: Setup
) -> None:
    made = client.post(
        setup.base,
        json={"name": "Placed", "steps": [{"type": "dbt", "command": "build"}]},
        headers=setup.headers,
    ).json()
    url = f"/api/v1/platform/orgs/{setup.org.slug}/execution"
    assert client.get(url, headers=setup.org.headers["super-admin"]).status_code == 403
    assert (
        client.get("/api/v1/platform/orgs/no-such-org/execution", headers=platform_admin).status_code == 404
    )
    before = client.get(url, headers=platform_admin).json()
    assert before == {
        "org": setup.org.slug,
        "max_concurrent_runs": settings.org_run_limit,
        "work_pool": settings.work_pool,
        "work_queue": None,
        "retention_days": 90,
        "command_time_limit_s": settings.command_time_limit_s,
    }
    changed = client.put(
        url,
        json={"max_concurrent_runs": 3, "work_queue": "big-orgs", "retention_days": 30},
        headers=platform_admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["max_concurrent_runs"] == 3 and changed.json()["work_queue"] == "big-orgs"
    assert client.get(url, headers=platform_admin).json()["retention_days"] == 30

    async def placed() -> tuple[str | None, str | None, int | None, str | None]:
        async with prefect_client(settings) as prefect:
            pipeline = await find_pipeline(prefect, setup.org.slug, uuid.UUID(made["id"]))
            assert pipeline is not None
            sync = await find_org_deployment(
                prefect, setup.org.slug, f"sync-{uuid.UUID(setup.connection_id).hex}"
            )
            assert sync is not None and sync.work_pool_name == pipeline.work_pool
            limit = await org_run_limit(prefect, setup.org.slug)
            return pipeline.work_pool, pipeline.work_queue, limit, sync.work_queue_name

    assert asyncio.run(placed()) == (settings.work_pool, "big-orgs", 3, "big-orgs")
    reset = client.put(url, json={"work_queue": None, "max_concurrent_runs": 2}, headers=platform_admin)
    assert reset.json()["work_queue"] is None
    assert asyncio.run(placed()) == (settings.work_pool, "default", 2, "default")
    refused = client.put(url, json={"max_concurrent_runs": 0}, headers=platform_admin)
    assert refused.status_code == 422


def test_a_connection_in_a_pipeline_cannot_be_deleted_until_the_pipeline_lets_go(
    client: TestClient, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    headers = org.headers["pipeline-manager"]
    connection_id = make_connection(client, org)
    made = client.post(
        f"/api/v1/orgs/{org.slug}/pipelines",
        json={"name": "Uses it", "steps": [{"type": "sync", "connection_id": connection_id}]},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    refused = client.delete(f"/api/v1/orgs/{org.slug}/connections/{connection_id}", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "This connection is a step of the pipeline 'Uses it'; remove it from there first."
    )
    assert (
        client.get(f"/api/v1/orgs/{org.slug}/connections/{connection_id}", headers=headers).status_code == 200
    )
    gone = client.delete(f"/api/v1/orgs/{org.slug}/pipelines/{made.json()['id']}", headers=headers)
    assert gone.status_code == 204
    deleted = client.delete(f"/api/v1/orgs/{org.slug}/connections/{connection_id}", headers=headers)
    assert deleted.status_code == 204
