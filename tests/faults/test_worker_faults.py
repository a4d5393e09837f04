"""A worker killed with SIGKILL while a sync writes into Postgres, and a pool left without a worker
for a while. Each runs on a worker of its own (tests/faults/worker_support.py), on a work pool of
its own, so that the session's worker is never touched."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType

from dalgo.deployments.client import prefect_client
from dalgo.naming import org_tag
from dalgo.settings import Settings
from tests.faults.worker_support import FaultWorker, placed_org, run_detail, sync
from tests.flows.pipeline_support import Org, rows
from tests.support.accounts import OrgWithRoles
from tests.support.waiting import wait_until

BEFORE = 1_000
AFTER = 3_000
FINGERPRINT = (
    "SELECT count(*), md5(coalesce(string_agg(id::text || '/' || email || '/' || updated_at::text, ','"
    " ORDER BY id), '')) FROM raw.users"
)


def fingerprint(database_url: str) -> tuple[int, str]:
    """The number of users in the final table and a digest of their rows."""
    ((count, digest),) = rows(database_url, FINGERPRINT)
    return int(count), str(digest)


def blocked_writes(database_url: str) -> list[str]:
    """The statements in the warehouse database waiting for a table lock now."""
    return [
        str(query)
        for (query,) in rows(
            database_url,
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        )
    ]


def other_sessions(database_url: str) -> int:
    """How many other sessions are open on the warehouse database."""
    ((count,),) = rows(
        database_url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    return int(count)


def tables(database_url: str, schema: str) -> set[str]:
    query = f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
    return {str(name) for (name,) in rows(database_url, query)}


@contextlib.contextmanager
def final_table_held(database_url: str) -> Iterator[None]:
    """Hold a SHARE lock on the final table: a sync's final step (its UPDATE and INSERT) waits
    for it, in the middle of its transaction, until the lock is let go."""
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE raw.users IN SHARE MODE")
        yield
    finally:
        connection.rollback()
        connection.close()


@pytest.fixture(scope="module")
def killable(
    client: TestClient,
    settings: Settings,
    platform_admin: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    make_org_with_roles: Callable[..., OrgWithRoles],
    make_database: Callable[[str], str],
) -> Iterator[tuple[Org, FaultWorker]]:
    """An org on a pool of its own, and that pool's worker (started)."""
    pool = f"{settings.work_pool}-kill"
    org = placed_org(client, platform_admin, make_org_with_roles, make_database, pool)
    worker = FaultWorker(settings, pool, tmp_path_factory.mktemp("kill-worker") / "worker.log")
    worker.start()
    try:
        yield org, worker
    finally:
        worker.stop()


def test_a_worker_killed_mid_write_leaves_the_previous_rows_and_the_next_sync_completes(
    killable: tuple[Org, FaultWorker],
) -> None:
    """A sync is killed (its worker and every process under it, SIGKILL) in the middle of its final
    step: its merge into the final table has begun, in its transaction, and waits for a lock the
    test holds. The final table keeps the previous sync's rows, every one as it was. Once the
    killed run's lock lease has run out, a sync by hand is accepted although Prefect still shows
    the dead run running (it is marked crashed only minutes later); it completes with the new
    rows, and the loading table the killed sync left is gone."""
    org, worker = killable
    made = org.connection("source-faker", {"count": BEFORE, "seed": 3}, ["users"])
    connection_id = made["connection_id"]
    first = org.wait(sync(org, connection_id))
    assert first["state"] == "completed", first
    previous = fingerprint(org.database_url)
    assert previous[0] == BEFORE
    changed = org.client.put(
        org.url(f"sources/{made['source_id']}"),
        json={"config": {"count": AFTER, "seed": 4}},
        headers=org.manager,
    )
    assert changed.status_code == 200, changed.text

    with final_table_held(org.database_url):
        killed_run = sync(org, connection_id)
        waiting = wait_until(
            lambda: blocked_writes(org.database_url), 120, "the sync never reached its final step"
        )
        assert any(query.lstrip().upper().startswith("UPDATE") for query in waiting), waiting
        worker.kill()
    wait_until(lambda: other_sessions(org.database_url) == 0, 30, "the killed sync's session stayed open")
    assert fingerprint(org.database_url) == previous
    left = [name for name in tables(org.database_url, "raw") if name.startswith("_dalgo_loading_")]
    assert len(left) == 1 and left[0].endswith("_users"), left

    worker.start()

    def next_sync() -> str | None:
        response = org.client.post(org.url(f"connections/{connection_id}/sync"), headers=org.manager)
        if response.status_code == 409:
            assert response.json()["holder_run_id"] == killed_run, response.text
            return None
        assert response.status_code == 202, response.text
        return str(response.json()["flow_run_id"])

    run_id = wait_until(next_sync, 90, "the killed sync kept its connection busy")
    assert run_detail(org, killed_run)["state"] == "running"
    detail = org.wait(run_id)
    assert detail["state"] == "completed", detail
    count, digest = fingerprint(org.database_url)
    assert count == AFTER and digest != previous[1]
    assert rows(org.database_url, "SELECT count(DISTINCT id) FROM raw.users") == [(AFTER,)]
    assert not [name for name in tables(org.database_url, "raw") if name.startswith("_dalgo_loading_")]


def cron_at(moment: datetime) -> str:
    """A cron expression (seconds last) that fires at this second, once a year."""
    return f"{moment.minute} {moment.hour} {moment.day} {moment.month} * {moment.second}"


@pytest.fixture(scope="module")
def idle(
    client: TestClient,
    settings: Settings,
    platform_admin: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    make_org_with_roles: Callable[..., OrgWithRoles],
    make_database: Callable[[str], str],
) -> Iterator[tuple[Org, FaultWorker]]:
    """An org on a pool of its own, three runs at once allowed, and that pool's worker (not started)."""
    pool = f"{settings.work_pool}-gone"
    org = placed_org(client, platform_admin, make_org_with_roles, make_database, pool)
    limit = client.put(
        f"/api/v1/platform/orgs/{org.slug}/execution", json={"max_concurrent_runs": 3}, headers=platform_admin
    )
    assert limit.status_code == 200, limit.text
    worker = FaultWorker(settings, pool, tmp_path_factory.mktemp("gone-worker") / "worker.log")
    try:
        yield org, worker
    finally:
        worker.stop()


def connection_into(org: Org, schema: str, count: int) -> str:
    """A small faker connection of the org writing into a schema of its own; its id."""
    source = org.post("sources", {"name": schema, "definition": "source-faker", "config": {"count": count}})
    made = org.post(
        "connections",
        {"name": schema, "source_id": source["id"], "streams": ["users"], "destination_schema": schema},
    )
    return str(made["id"])


def org_runs(settings: Settings, org: str) -> list[FlowRun]:
    """The org's flow runs due by now (steps included): runs a schedule made for later are left out."""

    async def read() -> list[FlowRun]:
        async with prefect_client(settings) as prefect:
            runs = await prefect.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[org_tag(org)]))
            )
        now = datetime.now(UTC)
        return [r for r in runs if r.expected_start_time is None or r.expected_start_time <= now]

    return asyncio.run(read())


def test_runs_triggered_while_no_worker_is_up_wait_and_each_runs_once_when_it_returns(
    idle: tuple[Org, FaultWorker], settings: Settings
) -> None:
    """With the org's pool left without a worker: a pipeline run started by hand, a sync started by
    hand and a pipeline's scheduled run all wait, scheduled (the scheduled one turns late), none
    started and none lost. When a worker comes back, each runs once and completes."""
    org, worker = idle
    counts = {"gone_a": 20, "gone_b": 30, "gone_c": 40}
    connections = {schema: connection_into(org, schema, count) for schema, count in counts.items()}
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=12)
    nightly = org.pipeline(
        "Nightly",
        [{"type": "sync", "connection_id": connections["gone_a"], "retries": 0}],
        schedule={"cron": cron_at(due), "timezone": "UTC"},
    )
    by_hand = org.pipeline(
        "By hand", [{"type": "sync", "connection_id": connections["gone_b"], "retries": 0}]
    )
    started = {org.run(by_hand), sync(org, connections["gone_c"])}

    def fired() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = org.get(f"runs?pipeline_id={nightly['id']}")["data"]
        return found

    (scheduled,) = wait_until(fired, 60, "the schedule did not make its run")
    triggered = {*started, scheduled["id"]}

    def late() -> list[FlowRun]:
        runs = org_runs(settings, org.slug)
        names = {str(r.id): r.state.name for r in runs if r.state is not None}
        return runs if names.get(scheduled["id"]) == "Late" else []

    waiting = wait_until(late, 90, "the scheduled run never turned late")
    assert {str(r.id) for r in waiting} == triggered, waiting
    assert all(r.state is not None and r.state.type == StateType.SCHEDULED for r in waiting), waiting
    assert all(run_detail(org, run_id)["state"] == "scheduled" for run_id in triggered)

    worker.start()
    for run_id in triggered:
        detail = org.wait(run_id)
        assert detail["state"] == "completed", detail
    runs = org_runs(settings, org.slug)
    tops = [r for r in runs if r.parent_task_run_id is None]
    assert sorted(str(r.id) for r in tops) == sorted(triggered), tops
    steps = [r for r in runs if r.parent_task_run_id is not None]
    assert len(steps) == 2, steps
    for run in runs:
        assert run.state is not None and run.state.type == StateType.COMPLETED, run
        assert run.run_count == 1, (run.name, run.run_count)
    for schema, count in counts.items():
        assert rows(org.database_url, f"SELECT count(*) FROM {schema}.users") == [(count,)]
