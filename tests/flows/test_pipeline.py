"""Pipelines running on real workers: real connectors (source-faker, source-file) into real
Postgres warehouses, and real dbt on a project pulled from a local git repository.

A worker of its own is killed with SIGKILL mid-sync first, so that its lock's lease runs out while
the other scenarios run; the last test checks what that left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from dalgo.deployments import pipelines
from dalgo.deployments.client import prefect_client
from dalgo.deployments.crashes import ensure_crash_detection
from dalgo.settings import Settings
from tests.flows.pipeline_support import RUN_TIMEOUT_S, Org, Worker, lock_of, make_org, rows, step_runs
from tests.support.accounts import OrgWithRoles
from tests.support.dbt import Repo, workspace_body
from tests.support.waiting import wait_until

PEOPLE = 30
FAKER_STREAMS = ["users"]
SOURCES_YML = """version: 2
sources:
  - name: faker
    schema: raw
    tables:
      - name: users
"""
PEOPLE_COUNT_SQL = "select count(*) as people from {{ source('faker', 'users') }}\n"


@dataclass
class Killed:
    org: Org
    worker: Worker
    pipeline: dict[str, Any]
    source_id: str
    resource: str
    run_id: str


@pytest.fixture(scope="module", autouse=True)
def killed(
    client: TestClient,
    settings: Settings,
    platform_admin: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    make_org_with_roles: Callable[..., OrgWithRoles],
    make_database: Callable[[str], str],
) -> Iterator[Killed]:
    """An org whose runs go to a work pool of their own; a long sync pipeline of it runs on a
    worker that is killed with SIGKILL as soon as the run holds the connection's lock."""
    org = make_org(client, make_org_with_roles, make_database)
    pool = f"{settings.work_pool}-kill"
    placed = client.put(
        f"/api/v1/platform/orgs/{org.slug}/execution", json={"work_pool": pool}, headers=platform_admin
    )
    assert placed.status_code == 200 and placed.json()["work_pool"] == pool, placed.text
    assert (
        client.put(f"/api/v1/platform/orgs/{org.slug}/execution", json={}, headers=org.manager).status_code
        == 403
    )

    async def watch_for_crashes() -> None:
        async with prefect_client(settings) as prefect:
            await ensure_crash_detection(prefect, settings, org=org.slug, within_s=40)

    asyncio.run(watch_for_crashes())
    made = org.connection("source-faker", {"count": 5_000_000, "seed": 1}, FAKER_STREAMS)
    pipeline = org.pipeline("Long", [{"type": "sync", "connection_id": made["connection_id"], "retries": 0}])
    worker = Worker(settings, pool, tmp_path_factory.mktemp("kill-worker") / "worker.log")
    worker.start()
    resource = f"connection:{made['connection_id']}"
    try:
        run_id = org.run(pipeline)
        wait_until(lambda: lock_of(org, resource), RUN_TIMEOUT_S, "the long sync never took its lock")
        wait_until(worker.connector_reading, RUN_TIMEOUT_S, "the long sync's connector never started")
        worker.kill()
        yield Killed(org, worker, pipeline, made["source_id"], resource, run_id)
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def org(
    client: TestClient,
    worker: str,
    tmp_path_factory: pytest.TempPathFactory,
    make_org_with_roles: Callable[..., OrgWithRoles],
    make_database: Callable[[str], str],
) -> Org:
    """An org with a Postgres warehouse and a dbt workspace whose project counts the synced users."""
    made = make_org(client, make_org_with_roles, make_database)
    repo = Repo(tmp_path_factory.mktemp("pipeline-repo"))
    repo.write("models/staging/faker.yml", SOURCES_YML, "Faker users as a source", "main")
    repo.write("models/marts/people_count.sql", PEOPLE_COUNT_SQL, "Count the people", "main")
    saved = client.put(made.url("dbt"), json=workspace_body(repo), headers=made.roles.headers["analyst"])
    assert saved.status_code == 200, saved.text
    return made


@pytest.fixture(scope="module")
def people(org: Org) -> str:
    """A small faker connection of the org."""
    return org.connection("source-faker", {"count": PEOPLE, "seed": 5}, FAKER_STREAMS)["connection_id"]


def cron_at(moment: datetime) -> str:
    """A cron expression (seconds last) that fires at this second, once a year."""
    return f"{moment.minute} {moment.hour} {moment.day} {moment.month} * {moment.second}"


async def _sync_lock_held(settings: Settings, sync_run_ids: list[str]) -> list[tuple[datetime, datetime]]:
    """For each sync's flow run, from its first line logged inside the connection's lock ("Syncing
    ...") to its last ("Synced ..."): when it held the connection. A sync may start, then wait for
    the lock, so its start time says nothing about overlap."""
    held: list[tuple[datetime, datetime]] = []
    async with prefect_client(settings) as prefect:
        for run_id in sync_run_ids:
            deadline = time.monotonic() + 30
            while True:
                lines = await prefect.read_logs(
                    LogFilter(flow_run_id=LogFilterFlowRunId(any_=[uuid.UUID(run_id)])), limit=200
                )
                began = [line.timestamp for line in lines if line.message.startswith("Syncing ")]
                ended = [line.timestamp for line in lines if line.message.startswith("Synced ")]
                if began and ended:
                    break
                assert time.monotonic() < deadline, [line.message for line in lines]
                await asyncio.sleep(0.5)
            held.append((min(began), max(ended)))
    return held


def test_scheduled_pipelines_sharing_a_connection_fire_and_run_one_after_the_other(
    org: Org, people: str, settings: Settings
) -> None:
    """Two pipelines due within seconds of each other fire on their own; their syncs of the same
    connection do not overlap; the dbt step, after a git pull and deps, reads what the sync wrote."""
    sync = {"type": "sync", "connection_id": people}
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    first = org.pipeline(
        "Sync and count",
        [sync, {"type": "dbt", "command": "run", "select": "people_count"}],
        schedule={"cron": cron_at(due), "timezone": "UTC"},
    )
    second = org.pipeline(
        "Sync again", [sync], schedule={"cron": cron_at(due + timedelta(seconds=2)), "timezone": "UTC"}
    )
    assert first["next_run"] == due.isoformat().replace("+00:00", "Z")

    def fired(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = org.get(f"runs?pipeline_id={pipeline['id']}")["data"]
        return runs

    run_ids = [
        wait_until(functools.partial(fired, p), 120, "the schedule did not fire")[0]["id"]
        for p in (first, second)
    ]
    details = [org.wait(run_id) for run_id in run_ids]
    for detail in details:
        assert detail["state"] == "completed", detail
        assert detail["triggered_by"] == "schedule" and detail["kind"] == "pipeline"
    steps = [step_runs(org, run_id) for run_id in run_ids]
    assert list(steps[0]) == [
        f"step1-sync-{people.replace('-', '')[:8]}",
        "step2-dbt-git-pull",
        "step3-dbt-deps",
        "step4-dbt-run",
    ]
    assert all(step["state"] == "completed" for step in steps[0].values())
    sync_ids = [s["id"] for detail in steps for s in detail.values() if "sync" in s["name"]]
    held = sorted(asyncio.run(_sync_lock_held(settings, sync_ids)))
    assert len(held) == 2 and held[0][1] <= held[1][0], held
    assert rows(org.database_url, "SELECT count(*) FROM raw.users") == [(PEOPLE,)]
    assert rows(org.database_url, "SELECT people FROM analytics.people_count") == [(PEOPLE,)]
    result = details[0]["result"]
    assert [s["state"] for s in result["steps"]] == ["completed"] * 4
    listed = {p["id"]: p for p in org.get("pipelines")["data"]}
    assert listed[first["id"]]["last_run"]["state"] == "completed"
    assert listed[first["id"]]["last_run"]["id"] == run_ids[0]
    assert org.locks() == []


def test_continue_on_sync_failure_runs_the_dbt_steps_after_a_broken_source(
    org: Org, people: str, settings: Settings
) -> None:
    """A source whose file cannot be reached fails its sync twice (one retry); the dbt step still runs and
    the run ends failed, naming the failed step. The pipeline syncs the people itself first (the
    model reads them): the module's tests may run in other processes, each with an org of its own."""
    missing = org.connection(
        "source-file",
        {
            "dataset_name": "gone",
            "format": "csv",
            "url": "https://127.0.0.1:9/nonexistent/gone.csv",
            "provider": {"storage": "HTTPS"},
        },
        None,
    )["connection_id"]
    pipeline = org.pipeline(
        "Broken then count",
        [
            {"type": "sync", "connection_id": people},
            {"type": "sync", "connection_id": missing, "retry_delay_s": 1},
            {"type": "dbt", "command": "run", "select": "people_count"},
        ],
        continue_on_sync_failure=True,
    )
    detail = org.wait(org.run(pipeline))
    assert detail["state"] == "failed", detail
    assert str(detail["state_message"]).startswith(f"Step sync-{missing.replace('-', '')[:8]} failed")
    outcome = {s["step"]: s for s in detail["result"]["steps"]}
    assert outcome[f"sync-{people.replace('-', '')[:8]}"]["state"] == "completed"
    assert outcome["dbt-run"]["state"] == "completed"
    broken = outcome[f"sync-{missing.replace('-', '')[:8]}"]
    assert broken["state"] == "failed"

    async def attempts() -> int:
        async with prefect_client(settings) as prefect:
            return (await prefect.read_flow_run(uuid.UUID(broken["flow_run_id"]))).run_count

    assert asyncio.run(attempts()) == 2

    def steps_logged() -> set[str | None] | None:
        steps = {line["step"] for line in org.get(f"runs/{detail['id']}/logs?limit=200")["data"]}
        return steps if "model people_count" in steps else None

    steps = wait_until(steps_logged, 60, "the dbt model's log lines in the pipeline run's logs")
    assert None in steps, "the pipeline's own lines name no step"
    assert any(str(step).endswith("dbt-run") for step in steps), steps
    assert any(str(step).endswith(f"sync-{missing.replace('-', '')[:8]}") for step in steps), steps


def _connector_processes(settings: Settings) -> list[psutil.Process]:
    folder = str(settings.resolved_connectors_dir)
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(process.info["cmdline"] or [])
            if folder in cmdline and "source-faker" in cmdline and " read " in f" {cmdline} ":
                found.append(process)
    return found


def test_a_locked_connection_is_refused_waited_for_and_cancel_reaches_the_running_sync(
    org: Org, settings: Settings, killed: Killed
) -> None:
    """While a long sync step holds the connection's lock: GET /locks names its run, running another
    pipeline of that connection now answers 409, a scheduled run of it waits visibly and gives up
    naming the holder; cancelling the holder stops its connector and frees the lock."""
    made = org.connection("source-faker", {"count": 5_000_000, "seed": 2}, FAKER_STREAMS)
    resource = f"connection:{made['connection_id']}"
    sync = {"type": "sync", "connection_id": made["connection_id"], "retries": 0}
    holder = org.pipeline("Holder", [sync])
    waiter = org.pipeline("Waiter", [sync])
    holder_run = org.run(holder)
    lock = wait_until(lambda: lock_of(org, resource), RUN_TIMEOUT_S, "the sync never took its lock")
    assert lock["holder_run_id"] == holder_run and lock["since"] is not None
    listed = {p["id"]: p for p in org.get("pipelines")["data"]}
    assert listed[waiter["id"]]["lock"]["holder_run_id"] == holder_run
    assert listed[holder["id"]]["last_run"]["state"] == "running"

    refused = org.post(f"pipelines/{waiter['id']}/run", status=409)
    assert refused["holder_run_id"] == holder_run and refused["resource"] == resource

    async def scheduled_run() -> str:
        async with prefect_client(settings) as prefect:
            found = await pipelines.find_pipeline(prefect, org.slug, uuid.UUID(waiter["id"]))
            assert found is not None
            run = await prefect.create_flow_run_from_deployment(
                found.deployment_id, parameters={"lock_wait_timeout_s": 6}
            )
            return str(run.id)

    waiting_run = asyncio.run(scheduled_run())
    seen = wait_until(
        lambda: (
            org.get(f"runs/{waiting_run}")["state"] in ("waiting_for_lock", "failed")
            and org.get(f"runs/{waiting_run}")
        ),
        120,
        "the waiting run never showed up",
    )
    assert seen["state"] == "waiting_for_lock", seen
    assert holder_run in str(seen["state_message"])
    gave_up = org.wait(waiting_run)
    assert gave_up["state"] == "failed" and holder_run in str(gave_up["state_message"]), gave_up
    assert "Gave up after waiting 6 s" in str(gave_up["state_message"])

    wait_until(lambda: _connector_processes(settings), 60, "the connector never started")
    cancelled = org.client.post(org.url(f"runs/{holder_run}/cancel"), headers=org.manager)
    assert cancelled.status_code == 202
    detail = org.wait(holder_run)
    assert detail["state"] == "cancelled", detail
    wait_until(lambda: not _connector_processes(settings), 60, "a connector outlived its cancelled run")
    wait_until(lambda: lock_of(org, resource) is None, 60, "the cancelled run's lock stayed taken")

    def ended_step() -> dict[str, Any] | None:
        first = next(iter(step_runs(org, holder_run).values()))
        return first if first["state"] in ("cancelled", "crashed", "failed") else None

    step = wait_until(ended_step, 60, "the sync step did not end")
    assert step["state"] == "cancelled", step


def test_a_worker_killed_mid_run_leaves_it_crashed_its_lock_free_and_the_next_run_succeeds(
    killed: Killed,
) -> None:
    org = killed.org
    crashed = wait_until(
        lambda: org.get(f"runs/{killed.run_id}")["state"] == "crashed" and org.get(f"runs/{killed.run_id}"),
        180,
        "the killed run was never marked crashed",
    )
    assert "heartbeat" in str(crashed["state_message"])
    wait_until(lambda: lock_of(org, killed.resource) is None, 240, "the lock of the killed run never freed")
    changed = org.client.put(
        org.url(f"sources/{killed.source_id}"), json={"config": {"count": 20, "seed": 1}}, headers=org.manager
    )
    assert changed.status_code == 200, changed.text
    killed.worker.start()
    detail = org.wait(org.run(killed.pipeline))
    assert detail["state"] == "completed", detail
