"""The org's time limit for a command, against the real stack: platform admins set it through the
API; a dbt command (a model that sleeps in Postgres) and a connector's sync that run past it on the
session's worker are stopped, no process of theirs is left, and their runs fail saying so; with a
limit they fit in, the same dbt command completes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from fastapi.testclient import TestClient

from dalgo.settings import Settings
from tests.support.accounts import OrgWithRoles
from tests.support.dbt import Repo, logs, nodes, operate, workspace_body
from tests.support.runs import wait_for_run
from tests.support.warehouses import postgres_body

SMALL_LIMIT_S = 10
SLEEP_S = 15
"""How long the slow model sleeps: past the small limit, well within the large one."""
SLOW_MODEL = f"{{{{ config(materialized='table') }}}}\nselect 1 as slept from pg_sleep({SLEEP_S})\n"
RUN_TIMEOUT_S = 300


def _stopped_message(limit_s: int) -> re.Pattern[str]:
    return re.compile(
        r"Stopped after \d+ seconds: the organization's time limit for a command is "
        + re.escape(f"{limit_s} seconds.")
    )


def _set_limit(client: TestClient, admin: dict[str, str], org: str, seconds: int | None) -> dict[str, Any]:
    changed = client.put(
        f"/api/v1/platform/orgs/{org}/execution", json={"command_time_limit_s": seconds}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    body: dict[str, Any] = changed.json()
    return body


def _processes_of(settings: Settings, org: str) -> list[psutil.Process]:
    """The processes on this machine whose command line names the org's folder: every sandboxed
    process of the org (bubblewrap binds the folder by name; dbt and connectors run inside it)."""
    folder = str(settings.org_home(org))
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(folder in part for part in process.info["cmdline"] or []):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _none_left(settings: Settings, org: str) -> None:
    alive = psutil.wait_procs(_processes_of(settings, org), timeout=15)[1]
    assert alive == [], [process.info for process in alive]


def test_platform_admins_set_the_time_limit_for_a_command_within_bounds(
    client: TestClient,
    settings: Settings,
    platform_admin: dict[str, str],
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    url = f"/api/v1/platform/orgs/{org.slug}/execution"
    assert client.get(url, headers=org.headers["super-admin"]).status_code == 403
    assert (
        client.get(url, headers=platform_admin).json()["command_time_limit_s"]
        == settings.command_time_limit_s
    )
    assert _set_limit(client, platform_admin, org.slug, 600)["command_time_limit_s"] == 600
    assert client.get(url, headers=platform_admin).json()["command_time_limit_s"] == 600
    for bad, bound in ((9, "greater than or equal to 10"), (86401, "less than or equal to 86400"), (0, "10")):
        refused = client.put(url, json={"command_time_limit_s": bad}, headers=platform_admin)
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["detail"]
        assert error["loc"] == ["body", "command_time_limit_s"] and bound in error["msg"], error
    assert client.get(url, headers=platform_admin).json()["command_time_limit_s"] == 600
    reset = _set_limit(client, platform_admin, org.slug, None)
    assert reset["command_time_limit_s"] == settings.command_time_limit_s


def test_a_dbt_command_past_the_orgs_time_limit_is_stopped_and_its_run_fails(
    client: TestClient,
    worker: str,
    settings: Settings,
    tmp_path: Path,
    platform_admin: dict[str, str],
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    saved = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse",
        json=postgres_body(make_database("time_limit")),
        headers=org.headers["super-admin"],
    )
    assert saved.status_code == 200, saved.text
    repo = Repo(tmp_path)
    repo.write("models/slow.sql", SLOW_MODEL, "A model that takes its time", "main")
    put = client.put(
        f"/api/v1/orgs/{org.slug}/dbt", json=workspace_body(repo), headers=org.headers["analyst"]
    )
    assert put.status_code == 200, put.text
    deps = operate(client, org, "deps")
    assert deps["state"] == "completed", deps

    _set_limit(client, platform_admin, org.slug, SMALL_LIMIT_S)
    stopped = operate(client, org, "run", select="slow")
    assert stopped["state"] == "failed", stopped
    message = str(stopped["state_message"])
    assert _stopped_message(SMALL_LIMIT_S).fullmatch(message), message
    assert stopped["result"]["message"] == message
    assert message in logs(client, org, str(stopped["id"]), awaiting=message)
    _none_left(settings, org.slug)

    _set_limit(client, platform_admin, org.slug, 600)
    ran = operate(client, org, "run", select="slow")
    assert ran["state"] == "completed", ran
    assert nodes(ran)["slow"]["status"] == "success"
    assert nodes(ran)["slow"]["execution_time_s"] >= SLEEP_S
    _none_left(settings, org.slug)


def test_a_sync_past_the_orgs_time_limit_is_stopped_and_its_run_fails(
    client: TestClient,
    worker: str,
    settings: Settings,
    platform_admin: dict[str, str],
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    base = f"/api/v1/orgs/{org.slug}"
    headers = org.headers["pipeline-manager"]
    warehouse = client.put(f"{base}/warehouse", json={"type": "duckdb"}, headers=org.headers["super-admin"])
    assert warehouse.status_code == 200, warehouse.text
    source = client.post(
        f"{base}/sources",
        json={"name": "Endless", "definition": "source-faker", "config": {"count": 100_000_000}},
        headers=headers,
    )
    assert source.status_code == 201, source.text
    connection = client.post(
        f"{base}/connections",
        json={
            "name": "Endless people",
            "source_id": source.json()["id"],
            "streams": ["users"],
            "destination_schema": "raw",
        },
        headers=headers,
    )
    assert connection.status_code == 201, connection.text
    _set_limit(client, platform_admin, org.slug, SMALL_LIMIT_S)
    started = client.post(f"{base}/connections/{connection.json()['id']}/sync", headers=headers)
    assert started.status_code == 202, started.text
    synced = wait_for_run(
        client, org.slug, started.json()["flow_run_id"], org.headers["guest"], RUN_TIMEOUT_S
    )
    assert synced["state"] == "failed", synced
    message = str(synced["state_message"])
    assert _stopped_message(SMALL_LIMIT_S).fullmatch(message), message
    _none_left(settings, org.slug)
