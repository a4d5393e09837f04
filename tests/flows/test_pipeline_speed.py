"""What keeps pipelines quick, on the session's real worker: `git-pull` and `deps` skipped when they
would change nothing, and a run of an org with no free run slot waiting in the work pool instead of
in one of the worker's places. Real Prefect, real git (sandboxed), real dbt on a Postgres warehouse.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient
from prefect.concurrency.sync import concurrency

from dalgo import naming
from dalgo.deployments.client import prefect_client
from dalgo.settings import Settings
from tests.flows.pipeline_support import RUN_TIMEOUT_S, Org, make_org, step_runs
from tests.run_logs import log_messages_once_there
from tests.support.accounts import OrgWithRoles
from tests.support.dbt import Repo, workspace_body
from tests.support.runs import wait_for_run
from tests.support.waiting import wait_until

SEED = [{"type": "dbt", "command": "seed"}]
SLOW_RUN_TIMEOUT_S = 900
"""On a busy machine a lock's first try (dalgo.flows.concurrency) can time out after the server granted
it, and the step then waits for that lease to expire (two minutes) before it runs."""


def wait(org: Org, run_id: str) -> dict[str, Any]:
    return wait_for_run(org.client, org.slug, run_id, org.guest, timeout_s=SLOW_RUN_TIMEOUT_S)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """The org's dbt repository: the test project (seeds, models, a local package)."""
    return Repo(tmp_path_factory.mktemp("speed-repo"))


@pytest.fixture(scope="module")
def org(
    client: TestClient,
    worker: str,
    repo: Repo,
    make_org_with_roles: Callable[..., OrgWithRoles],
    make_database: Callable[[str], str],
) -> Org:
    """An org with a Postgres warehouse and a git-backed dbt workspace."""
    made = make_org(client, make_org_with_roles, make_database)
    saved = client.put(made.url("dbt"), json=workspace_body(repo), headers=made.roles.headers["analyst"])
    assert saved.status_code == 200, saved.text
    return made


def test_git_pull_and_deps_run_only_when_the_branch_or_its_packages_changed(org: Org, repo: Repo) -> None:
    """Once a run has pulled the branch and installed its packages, the next run skips both and its
    log says why; a commit that changes packages.yml makes both run again."""
    pipeline = org.pipeline("Seed", SEED)
    assert wait(org, org.run(pipeline))["state"] == "completed"

    unchanged = org.run(pipeline)
    detail = wait(org, unchanged)
    assert detail["state"] == "completed", detail
    outcome = {s["step"]: s for s in detail["result"]["steps"]}
    assert [s["state"] for s in outcome.values()] == ["skipped", "skipped", "completed"], outcome
    assert outcome["dbt-git-pull"]["message"].startswith("Skipped: the tip of branch main of file://")
    assert "packages.yml and dependencies.yml are as they were" in outcome["dbt-deps"]["message"]
    assert list(step_runs(org, unchanged)) == ["step3-dbt-seed"]
    logged = log_messages_once_there(org.client, org.slug, unchanged, org.guest, "Step 2 (dbt-deps) skipped")
    assert any(line.startswith("Step 1 (dbt-git-pull) skipped: the tip of branch main") for line in logged)
    assert any(line.startswith("Step 2 (dbt-deps) skipped: packages.yml") for line in logged)

    packages = (repo.work / "transform" / "packages.yml").read_text()
    repo.write("packages.yml", packages + "# the same package, listed again\n", "Touch the packages", "main")
    changed = org.run(pipeline)
    assert wait(org, changed)["state"] == "completed"
    steps = step_runs(org, changed)
    assert list(steps) == ["step1-dbt-git-pull", "step2-dbt-deps", "step3-dbt-seed"]
    assert all(step["state"] == "completed" for step in steps.values()), steps


def _flow_run_processes(run_id: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("PREFECT__FLOW_RUN_ID") == run_id:
                found.append(process)
    return found


def test_a_run_of_an_org_without_a_free_slot_waits_in_the_work_pool_not_in_a_worker(
    org: Org, client: TestClient, settings: Settings, platform_admin: dict[str, str]
) -> None:
    """With its org's only run slot taken, a pipeline run goes back to the work pool (Scheduled,
    AwaitingConcurrencySlot) and no process of it stays on the worker, so it holds none of the
    worker's places; once the slot is free it runs to the end."""
    pipeline = org.pipeline("Waits its turn", SEED)
    execution = f"/api/v1/platform/orgs/{org.slug}/execution"
    assert client.put(execution, json={"max_concurrent_runs": 1}, headers=platform_admin).status_code == 200

    async def state_of(run_id: str) -> tuple[str, str, int]:
        async with prefect_client(settings) as prefect:
            run = await prefect.read_flow_run(uuid.UUID(run_id))
            assert run.state is not None
            return run.state.type.value, run.state.name or "", run.run_count

    def gave_way(run_id: str) -> bool:
        kind, name, tries = asyncio.run(state_of(run_id))
        return kind == "SCHEDULED" and name == naming.AWAITING_SLOT and tries >= 1

    try:
        with concurrency(naming.org_limit_name(org.slug), lease_duration=60, strict=True):
            waiting = org.run(pipeline)
            wait_until(lambda: gave_way(waiting), RUN_TIMEOUT_S, "the run never went back to the work pool")
            wait_until(lambda: not _flow_run_processes(waiting), 60, "the run's process stayed on the worker")
            assert gave_way(waiting)
            assert org.get(f"runs/{waiting}")["state"] == "waiting_for_lock"
            logged = [entry["message"] for entry in org.get(f"runs/{waiting}/logs?limit=200")["data"]]
            assert any(f"All of {org.slug}'s 1 run slots are taken" in line for line in logged), logged
        detail = wait(org, waiting)
        assert detail["state"] == "completed", detail
    finally:
        client.put(execution, json={"max_concurrent_runs": 2}, headers=platform_admin)
