"""The dbt workspace through the API: a real dbt project (tests/dbt_project) in a local bare git
repository, pulled and run by the session's worker against real Postgres and DuckDB warehouses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient

from dalgo.settings import Settings
from tests.fake_dns import fake_dns
from tests.run_logs import run_detail_with_step
from tests.secret_scan import ResponseRecorder
from tests.support.accounts import OrgWithRoles
from tests.support.dbt import (
    FAKE_TOKEN,
    Repo,
    git,
    logs,
    nodes,
    operate,
    start,
    wait,
    workspace_body,
)
from tests.support.runs import org_run_parameters_and_logs
from tests.support.warehouses import open_duckdb, postgres_body


def pg_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return list(cursor.fetchall())
    finally:
        connection.close()


def test_a_postgres_workspace_pulled_built_then_changed_by_a_second_commit(
    client: TestClient,
    worker: str,
    settings: Settings,
    tmp_path: Path,
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    url = make_database("dbt")
    warehouse = postgres_body(url)
    saved = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json=warehouse, headers=org.headers["super-admin"]
    )
    assert saved.status_code == 200, saved.text
    repo = Repo(tmp_path)
    base = f"/api/v1/orgs/{org.slug}/dbt"
    assert (
        client.get(base, headers=org.headers["guest"]).json()["detail"].startswith("This organization has no")
    )
    put = client.put(base, json=workspace_body(repo), headers=org.headers["analyst"])
    assert put.status_code == 200, put.text
    assert put.json()["git_token"] == "********" and FAKE_TOKEN not in put.text

    deps_id = start(client, org, "deps")
    busy = client.post(f"{base}/operations", json={"command": "git-pull"}, headers=org.headers["analyst"])
    assert busy.status_code == 409 and busy.json()["holder_run_id"] == deps_id
    assert client.delete(base, headers=org.headers["analyst"]).status_code == 409
    assert client.get(base, headers=org.headers["guest"]).json()["locked_by"]["id"] == deps_id
    deps = wait(client, org, deps_id)
    assert deps["state"] == "completed" and deps["kind"] == "dbt", deps
    first_commit = git(repo.work, "rev-parse", "HEAD")
    assert deps["result"]["git"]["commit"] == first_commit
    assert "Installing dalgo_utils" in logs(client, org, deps_id, awaiting="Installing dalgo_utils")

    build = operate(client, org, "build")
    assert build["state"] == "completed", build
    built = nodes(build)
    assert built["raw_donations"]["rows_affected"] == 8
    assert built["donations_incremental"]["status"] == "success"
    assert built["donations_incremental"]["rows_affected"] == 8
    assert built["assert_totals_are_positive"]["status"] == "pass"
    assert {n["type"] for n in built.values()} == {"seed", "model", "test"}
    created = "OK created sql incremental model analytics.donations_incremental"
    build_logs = logs(client, org, str(build["id"]), awaiting=created)
    assert created in build_logs
    run_detail_with_step(client, org.slug, str(build["id"]), org.headers["guest"], "model donor_totals")
    assert pg_rows(url, "SELECT count(*), sum(total_cents) FROM analytics.donor_totals") == [(6, 23150)]

    second_commit = repo.apply("second_commit", "A country model and a failing test")
    pulled = operate(client, org, "git-pull")
    assert pulled["state"] == "completed" and pulled["kind"] == "git", pulled
    assert pulled["result"]["git"]["commit"] == second_commit != first_commit
    checked_out = f"Checked out {second_commit[:12]} (A country model and a failing test)"
    assert checked_out in logs(client, org, str(pulled["id"]), awaiting=checked_out)
    run = operate(client, org, "run")
    assert run["state"] == "completed", run
    ran = nodes(run)
    assert set(ran) == {
        "stg_people",
        "stg_donations",
        "donor_totals",
        "donations_incremental",
        "country_totals",
    }
    assert ran["donations_incremental"]["rows_affected"] == 0 and ran["donor_totals"]["rows_affected"] == 6
    tested = operate(client, org, "test", select="stg_donations")
    assert tested["state"] == "completed_with_warnings", tested
    failing = nodes(tested)["assert_no_donation_over_90"]
    assert failing["status"] == "fail" and failing["failures"] == 1
    assert "assert_no_donation_over_90" in tested["result"]["message"]
    assert nodes(tested)["unique_stg_donations_donation_id"]["status"] == "pass"

    docs = client.get(f"{base}/docs", headers=org.headers["guest"])
    assert docs.status_code == 404 and "docs-generate" in docs.json()["detail"]
    generated = operate(client, org, "docs-generate")
    assert generated["state"] == "completed", generated
    docs = client.get(f"{base}/docs", headers=org.headers["guest"])
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "country_totals" in docs.text and "sandbox" in docs.headers["content-security-policy"]

    parameters, _ = org_run_parameters_and_logs(settings, org.slug)
    runs = client.get(f"/api/v1/orgs/{org.slug}/runs", headers=org.headers["guest"]).json()
    all_logs = "\n".join(logs(client, org, str(r["id"])) for r in runs["data"])
    assert runs["count"] == 6 and "Checked out" in all_logs
    for secret in (FAKE_TOKEN, str(warehouse["password"])):
        assert secret not in parameters and secret not in all_logs
    assert {r["kind"] for r in runs["data"]} == {"git", "dbt"}
    assert all(r["triggered_by"] == org.users["analyst"].email for r in runs["data"])


def test_a_duckdb_workspace_pulls_on_first_use_and_a_failing_model_fails_the_run(
    client: TestClient,
    worker: str,
    settings: Settings,
    tmp_path: Path,
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    saved = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "duckdb"}, headers=org.headers["super-admin"]
    )
    assert saved.status_code == 200, saved.text
    repo = Repo(tmp_path)
    body = workspace_body(repo, git_token=None, branch=None)
    assert (
        client.put(f"/api/v1/orgs/{org.slug}/dbt", json=body, headers=org.headers["analyst"]).status_code
        == 200
    )

    deps = operate(client, org, "deps")
    assert deps["state"] == "completed", deps
    no_checkout = "no checkout of the workspace's repository yet"
    assert no_checkout in logs(client, org, str(deps["id"]), awaiting=no_checkout)
    build = operate(client, org, "build")
    assert build["state"] == "completed", build
    assert nodes(build)["raw_people"]["rows_affected"] == 6
    assert nodes(build)["donations_incremental"]["rows_affected"] is None
    tested = operate(client, org, "test")
    assert tested["state"] == "completed", tested
    assert tested["result"]["counts"] == {"pass": 10}
    target = settings.org_home(org.slug) / "dbt" / "target"
    assert (target / "partial_parse.msgpack").is_file()

    repo.write(
        "models/marts/broken.sql",
        "select * from {{ ref('stg_people') }} where no_such_column > 0\n",
        "A model that cannot build",
        "broken",
    )
    body["branch"] = "broken"
    assert (
        client.put(f"/api/v1/orgs/{org.slug}/dbt", json=body, headers=org.headers["analyst"]).status_code
        == 200
    )
    failed = operate(client, org, "run")
    assert failed["state"] == "failed", failed
    result = failed["result"]
    assert (
        nodes(failed)["broken"]["status"] == "error" and nodes(failed)["donor_totals"]["status"] == "success"
    )
    assert nodes(failed)["donations_incremental"]["status"] == "success"
    assert "model broken" in result["message"] and failed["state_message"] == result["message"]
    assert result["git"]["branch"] == "broken"
    with open_duckdb(saved.json()["path"]) as connection:
        assert connection.execute("SELECT count(*) FROM analytics.donations_incremental").fetchone() == (8,)
        assert connection.execute("SELECT count(*) FROM analytics.donor_totals").fetchone() == (6,)

    cleaned = operate(client, org, "clean")
    assert cleaned["state"] == "completed", cleaned
    assert not any(target.iterdir())


def test_bad_urls_and_branches_fail_the_pull_clearly_and_the_token_never_shows(
    client: TestClient,
    worker: str,
    settings: Settings,
    tmp_path: Path,
    recorder: ResponseRecorder,
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    base = f"/api/v1/orgs/{org.slug}/dbt"
    unreachable = {
        "git_url": "https://127.0.0.1:9/org/repo.git",
        "git_token": FAKE_TOKEN,
        "target_schema": "t",
    }
    assert client.put(base, json=unreachable, headers=org.headers["analyst"]).status_code == 200
    failed = operate(client, org, "git-pull")
    assert failed["state"] == "failed", failed
    assert failed["result"]["message"].startswith(
        "Could not read the git repository https://127.0.0.1:9/org/repo.git: unable to access"
    )
    assert "unable to access" in logs(client, org, str(failed["id"]), awaiting="unable to access")
    repo = Repo(tmp_path)
    assert (
        client.put(
            base,
            json={"git_url": repo.url, "branch": "nosuch", "target_schema": "t"},
            headers=org.headers["analyst"],
        ).status_code
        == 200
    )
    failed = operate(client, org, "git-pull")
    assert failed["state"] == "failed", failed
    assert failed["result"]["message"] == f"The branch 'nosuch' does not exist in the repository {repo.url}."
    assert failed["state_message"] == failed["result"]["message"]
    missing = "The branch 'nosuch' does not exist"
    assert missing in logs(client, org, str(failed["id"]), awaiting=missing)

    parameters, _ = org_run_parameters_and_logs(settings, org.slug)
    runs = client.get(f"/api/v1/orgs/{org.slug}/runs", headers=org.headers["guest"]).json()["data"]
    all_logs = "\n".join(logs(client, org, str(r["id"])) for r in runs)
    assert "git-pull" in parameters and FAKE_TOKEN not in parameters and FAKE_TOKEN not in all_logs
    assert "unable to access" in all_logs
    for method, address, body in recorder.bodies:
        assert FAKE_TOKEN not in body, f"{method} {address} answered the token"


def test_the_workspace_settings_are_checked_masked_kept_and_removed(
    client: TestClient,
    settings: Settings,
    tmp_path: Path,
    make_org_with_roles: Callable[..., OrgWithRoles],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"github.com": "140.82.112.3", "gitlab.com": "172.65.251.78"})
    org = make_org_with_roles()
    base = f"/api/v1/orgs/{org.slug}/dbt"
    analyst = org.headers["analyst"]
    for path in ("/operations", "/docs"):
        method = "POST" if path == "/operations" else "GET"
        missing = client.request(method, base + path, headers=analyst, json={"command": "run"})
        assert missing.status_code == 404 and "no dbt workspace" in missing.json()["detail"]
    assert client.delete(base, headers=analyst).status_code == 404

    good = {"git_url": "https://github.com/example/project.git", "target_schema": "analytics"}
    refused = {
        "http://github.com/x.git": "must start with https://",
        "https://user:secret@github.com/x.git": "Put the access token in git_token",
        "git@github.com:x/y.git": "must start with https://",
        "file:///x/../etc": "cannot contain '..'",
        settings.org_home("someone-else").as_uri(): "inside the platform's own folder",
        (settings.org_home(org.slug) / "dbt" / "repo").as_uri(): "the dbt workspace's own folder",
    }
    for git_url, reason in refused.items():
        response = client.put(base, json={**good, "git_url": git_url}, headers=analyst)
        assert response.status_code == 422 and reason in response.json()["detail"], (git_url, response.text)
    for changes, reason in (
        ({"branch": "-f"}, "not a valid git branch name"),
        ({"branch": "a..b"}, "not a valid git branch name"),
        ({"project_dir": "../other"}, "a folder inside the repository"),
        ({"project_dir": "/etc"}, "a folder inside the repository"),
        ({"target_schema": "bad schema; drop"}, "not a usable schema name"),
    ):
        response = client.put(base, json={**good, **changes}, headers=analyst)
        assert response.status_code == 422 and reason in response.json()["detail"], (changes, response.text)
    assert client.put(base, json={**good, "unknown": 1}, headers=analyst).status_code == 422
    assert client.put(base, json=good, headers=org.headers["guest"]).status_code == 403

    saved = client.put(base, json={**good, "git_token": FAKE_TOKEN, "project_dir": "./dbt/"}, headers=analyst)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {
        **good,
        "git_token": "********",
        "branch": None,
        "project_dir": "dbt",
        "locked_by": None,
    }
    kept = client.put(base, json={**good, "branch": "dev"}, headers=analyst).json()
    assert kept["git_token"] == "********" and kept["branch"] == "dev"
    masked = client.put(base, json={**good, "git_token": "********"}, headers=analyst).json()
    assert masked["git_token"] == "********"
    moved = client.put(base, json={**good, "git_url": "https://gitlab.com/x/y.git"}, headers=analyst).json()
    assert moved["git_token"] is None, "a saved token never follows the repository to another host"
    client.put(base, json={**good, "git_token": FAKE_TOKEN}, headers=analyst)
    cleared = client.put(base, json={**good, "git_token": None}, headers=analyst).json()
    assert cleared["git_token"] is None
    assert client.get(base, headers=org.headers["guest"]).json()["git_url"] == good["git_url"]

    for body, reason in (
        ({"command": "deps", "select": "x"}, "select applies only to"),
        ({"command": "test", "full_refresh": True}, "full_refresh applies only to"),
        ({"command": "run", "select": "--vars {a: 1}"}, "is not a dbt selector"),
        ({"command": "run", "exclude": "a;b"}, "is not a dbt selector"),
    ):
        response = client.post(f"{base}/operations", json=body, headers=analyst)
        assert response.status_code == 422 and reason in response.json()["detail"], (body, response.text)
    assert client.post(f"{base}/operations", json={"command": "rm -rf"}, headers=analyst).status_code == 422
    assert (
        client.post(f"{base}/operations", json={"command": "run"}, headers=org.headers["guest"]).status_code
        == 403
    )

    folder = settings.org_home(org.slug) / "dbt" / "target"
    folder.mkdir(parents=True)
    assert client.delete(base, headers=org.headers["guest"]).status_code == 403
    assert client.delete(base, headers=analyst).status_code == 204
    assert client.get(base, headers=analyst).status_code == 404
    assert not folder.exists()
