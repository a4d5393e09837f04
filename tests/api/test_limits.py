"""Limits through the web API: every list's `limit` has a cap, documented, and a value over it
answers 422 with a sentence; runs started by hand are limited per org (429 with Retry-After).

The session's app lifts the manual-run limit (many tests start runs in one org), so the run limit
is tested with an app of its own with a small limit, on the session's database and Prefect server.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dalgo.api.main import create_app
from dalgo.settings import Settings
from tests.api.connection_support import make_connection
from tests.support.accounts import OrgWithRoles

API_DOC = Path(__file__).parents[2] / "docs" / "api.md"


def capped_lists(client: TestClient) -> dict[str, int]:
    """Every GET route with a `limit` parameter, and the cap its schema declares."""
    caps: dict[str, int] = {}
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["name"] == "limit":
                caps[path] = parameter["schema"].get("maximum", 0)
    return caps


def test_every_lists_limit_is_capped_and_documented(client: TestClient) -> None:
    caps = capped_lists(client)
    assert len(caps) >= 10, caps
    uncapped = [path for path, cap in caps.items() if not cap]
    assert not uncapped, f"lists without a cap on limit: {uncapped}"
    documented = API_DOC.read_text()
    for path, cap in caps.items():
        row = re.search(
            rf"^\| `{re.escape(path.removeprefix('/api/v1'))}` \| (\d+) \| (\d+) \|", documented, re.M
        )
        assert row, f"docs/api.md does not list the cap of {path}"
        assert int(row.group(2)) == cap, f"docs/api.md gives {path} a cap of {row.group(2)}, the API {cap}"


def test_a_limit_over_its_cap_answers_422_with_a_sentence(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    headers = org.headers["super-admin"]
    for path, cap in capped_lists(client).items():
        url = path.replace("{org}", org.slug)
        url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), url)
        over = client.get(url, params={"limit": cap + 1}, headers=headers)
        assert over.status_code == 422, f"{path}: {over.status_code} {over.text}"
        assert over.json()["detail"] == f"`limit` may be at most {cap}; ask for the next page with `offset`."
        under = client.get(url, params={"limit": 0}, headers=headers)
        assert under.status_code == 422 and under.json()["detail"] == "`limit` must be at least 1."
    for path in (
        "/api/v1/me/notifications",
        f"/api/v1/orgs/{org.slug}/members",
        f"/api/v1/orgs/{org.slug}/runs",
    ):
        far = client.get(path, params={"offset": 10**20}, headers=headers)
        assert far.status_code == 422 and far.json()["detail"] == "`offset` may be at most 1000000000."
        assert client.get(path, params={"offset": 10**9}, headers=headers).json()["data"] == []
    at_cap = client.get(f"/api/v1/orgs/{org.slug}/members", params={"limit": 200}, headers=headers)
    assert at_cap.status_code == 200
    assert len(at_cap.json()["data"]) == at_cap.json()["count"] == 6  # one per role, and the org's creator


def test_bad_query_values_are_told_in_a_sentence_and_bodies_keep_fastapis_form(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    headers = org.headers["super-admin"]
    words = client.get(f"/api/v1/orgs/{org.slug}/members", params={"offset": "many"}, headers=headers)
    assert words.status_code == 422
    assert (
        words.json()["detail"]
        == "`offset`: input should be a valid integer, unable to parse string as an integer."
    )
    body = client.post(f"/api/v1/orgs/{org.slug}/invitations", json={"role": "guest"}, headers=headers)
    assert body.status_code == 422 and isinstance(body.json()["detail"], list)


RUN_LIMIT = 3


@pytest.fixture(scope="module")
def limited_app(settings: Settings, client: TestClient) -> Iterator[FastAPI]:
    """An app allowing 3 runs started by hand per org a minute (the session's client has migrated
    the database already)."""
    app = create_app(settings.model_copy(update={"manual_run_rate_limit": f"{RUN_LIMIT}/minute"}))
    with TestClient(app):
        yield app


def _started(response: httpx.Response) -> str | None:
    """The run a start request began (None when it answered otherwise, e.g. 409 while busy)."""
    assert response.status_code in (202, 409), response.text
    run_id: str | None = response.json().get("flow_run_id") if response.status_code == 202 else None
    return run_id


def test_runs_started_by_hand_are_limited_per_org(
    limited_app: FastAPI, client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org, other = make_org_with_roles(), make_org_with_roles()
    connection, other_connection = make_connection(client, org), make_connection(client, other)
    api = TestClient(limited_app)
    sync = f"/api/v1/orgs/{org.slug}/connections/{connection}/sync"
    started: list[tuple[OrgWithRoles, str]] = []

    # Attempts a role may not make are refused first and use none of the org's allowance.
    for _ in range(RUN_LIMIT + 2):
        assert api.post(sync, headers=org.headers["guest"]).status_code == 403

    manager = org.headers["pipeline-manager"]
    for _ in range(RUN_LIMIT):
        run_id = _started(api.post(sync, headers=manager))
        if run_id:
            started.append((org, run_id))
    assert started, "no sync started"

    refused = api.post(sync, headers=manager)
    assert refused.status_code == 429, refused.text
    wait_s = int(refused.headers["retry-after"])
    assert 0 < wait_s <= 60
    assert re.fullmatch(
        rf"Too many runs started by hand in '{org.slug}' \(at most {RUN_LIMIT} per minute\); "
        r"try again in \d+ seconds\.",
        refused.json()["detail"],
    )
    # The allowance is the org's: its dbt commands and pipelines wait too, whoever asks.
    dbt = api.post(
        f"/api/v1/orgs/{org.slug}/dbt/operations", json={"command": "run"}, headers=org.headers["analyst"]
    )
    assert dbt.status_code == 429 and dbt.headers["retry-after"]
    pipeline = api.post(
        f"/api/v1/orgs/{org.slug}/pipelines/{uuid.uuid4()}/run", headers=org.headers["super-admin"]
    )
    assert pipeline.status_code == 429

    # Another org is not held back by this one.
    other_run = _started(
        api.post(
            f"/api/v1/orgs/{other.slug}/connections/{other_connection}/sync",
            headers=other.headers["pipeline-manager"],
        )
    )
    assert other_run
    started.append((other, other_run))

    # The refusals are in the audit log with their outcome.
    log: dict[str, Any] = api.get(
        f"/api/v1/orgs/{org.slug}/audit-log",
        params={"action": "sync_connection"},
        headers=org.headers["account-manager"],
    ).json()
    outcomes = [entry["status_code"] for entry in log["data"]]
    assert outcomes[0] == 429 and outcomes.count(403) == RUN_LIMIT + 2

    for owner, run_id in started:
        cancelled = api.post(
            f"/api/v1/orgs/{owner.slug}/runs/{run_id}/cancel", headers=owner.headers["pipeline-manager"]
        )
        assert cancelled.status_code in (202, 409), cancelled.text
