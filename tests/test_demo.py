"""`dalgo demo` for real, twice: the whole product on one machine, then again reusing what exists.

The demo runs as a subprocess in a fresh DALGO_HOME on free ports, with no PREFECT_* or DALGO_*
variables: it starts its own Prefect server (on SQLite), worker and API, makes everything through
the web API, runs the pipeline and prints what it made. The test reads the DuckDB warehouse file
itself. The second run keeps serving (`--serve`), so the test can ask the API what the demo left
behind before stopping it with SIGTERM.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import psutil

from dalgo.demo.repo import EXAMPLE_PROJECT, prepare_repository
from tests.support.network import free_port
from tests.support.processes import ProcessOutput, alive, process_tree

RUN_TIMEOUT_S = 600
STOP_TIMEOUT_S = 60
STEP_NAMES = ["sync", "dbt-git-pull", "dbt-deps", "dbt-run", "dbt-test"]
# Run again on an unchanged repository, the pipeline skips git pull and deps (and lists only what ran).
STEP_NAMES_UNCHANGED = ["sync", "dbt-run", "dbt-test"]
MADE_STEPS = ["Org 'demo' (made)", "Warehouse (made, duckdb)", "Source 'Demo sample data' (made)"]
REUSED_STEPS = [
    "Platform admin demo-admin@example.org (reused)",
    "Org 'demo' (reused)",
    "Demo user demo@example.org (account-manager) (reused)",
    "Warehouse (reused, duckdb)",
    "Source 'Demo sample data' (reused)",
    "Connection 'Demo sample data to raw' (reused)",
    "dbt workspace: the example dbt project (unchanged)",
    "Pipeline 'Demo daily': sync, dbt run, dbt test; daily at 06:00 Asia/Kolkata (reused)",
]
TABLE_ROW = re.compile(r"^\s*(\w+)\.(\w+)\s+[│|]\s+(\d+)\s*$", re.MULTILINE)
STEP_ROW = re.compile(r"^\s*demo--step(\d)-(\S+)\s+[│|]\s+(\w+)\s+[│|]\s+([\d.]+) s\s*$", re.MULTILINE)
LOGIN = re.compile(r"^Log in as (\S+) with password (\S+) \(org 'demo'\)\.$", re.MULTILINE)


def _printed_tables(text: str) -> dict[str, int]:
    return {f"{schema}.{table}": int(rows) for schema, table, rows in TABLE_ROW.findall(text)}


def _printed_steps(text: str) -> list[tuple[str, str, float]]:
    return [(name, state, float(seconds)) for _, name, state, seconds in STEP_ROW.findall(text)]


def _warehouse_rows(path: Path) -> dict[str, int]:
    """Rows of every table and view in the DuckDB file (Airbyte's own tables left out)."""
    with duckdb.connect(str(path), read_only=True) as connection:
        names = connection.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_name not like '\\_airbyte%' escape '\\'"
        ).fetchall()
        counts: dict[str, int] = {}
        for schema, table in names:
            row = connection.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
            assert row is not None
            counts[f"{schema}.{table}"] = int(row[0])
        return counts


def _check_run_output(text: str, warehouse: Path, step_names: list[str]) -> dict[str, int]:
    """The summary of one demo run against the warehouse file; the rows it printed."""
    assert "✓ Running the pipeline (completed)" in text, text
    steps = _printed_steps(text)
    assert [re.sub(r"-[0-9a-f]{8}$", "", name) for name, _, _ in steps] == step_names, text
    assert all(state == "completed" and seconds > 0 for _, state, seconds in steps), text

    printed = _printed_tables(text)
    raw = {"raw.users", "raw.products", "raw.purchases"}
    marts = {"analytics.customers", "analytics.product_sales", "analytics.daily_purchases"}
    assert raw | marts <= set(printed), text
    assert printed["raw.users"] == 200
    assert printed["raw.products"] == 100
    assert printed["analytics.customers"] == printed["raw.users"]
    assert printed["analytics.product_sales"] == printed["raw.products"]
    assert printed == _warehouse_rows(warehouse)
    return printed


def test_demo_runs_end_to_end_and_again_reusing_what_exists(tmp_path: Path) -> None:
    """First run: everything is made, the pipeline (sync, git pull, deps, dbt run, dbt test) runs
    and completes, and the rows printed per table are the rows in the org's DuckDB file. Second run,
    with --serve: everything is reused, a second pipeline run gives the same rows (the sync merges
    on primary keys), and the API shows one pipeline on a daily schedule in Asia/Kolkata with two
    completed runs; SIGTERM then stops the demo and every process it started.
    """
    home = tmp_path / "home"
    api_port, prefect_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DALGO_"))}
    env["DALGO_HOME"] = str(home)
    command = [sys.executable, "-m", "dalgo.cli", "demo", "--run-timeout", str(RUN_TIMEOUT_S)]
    command += ["--api-port", str(api_port), "--prefect-port", str(prefect_port)]
    warehouse = home / "orgs" / "demo" / "warehouse.duckdb"

    first = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S + 300
    )
    text = first.stdout + first.stderr
    assert first.returncode == 0, text
    for line in MADE_STEPS:
        assert f"✓ {line}" in text, text
    assert "✓ Demo user demo@example.org (account-manager) (invited and signed up)" in text
    rows = _check_run_output(text, warehouse, STEP_NAMES)
    login = LOGIN.search(text)
    assert login, text
    assert f"Dashboard   http://127.0.0.1:{api_port}/  (open it in a browser" in text
    assert f"API docs    http://127.0.0.1:{api_port}/docs" in text
    assert f"Prefect UI  http://127.0.0.1:{prefect_port}" in text
    assert "Stopping the local stack" in text

    serve = subprocess.Popen(
        [*command, "--serve"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert serve.stdout is not None
    output = ProcessOutput(serve.stdout)
    tree: list[psutil.Process] = []
    try:
        output.wait_for("Serving until Ctrl-C.", RUN_TIMEOUT_S + 120, serve)
        text = output.text
        for line in REUSED_STEPS:
            assert f"✓ {line}" in text, text
        again = LOGIN.search(text)
        assert again and again[0] == login[0], text
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}/api/v1", timeout=30) as api:
            token = api.post("/auth/login", json={"email": login[1], "password": login[2]})
            assert token.status_code == 200, token.text
            api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            pipelines = api.get("/orgs/demo/pipelines").json()
            assert pipelines["count"] == 1
            pipeline = pipelines["data"][0]
            assert pipeline["schedule"] == {"cron": "0 6 * * *", "timezone": "Asia/Kolkata"}
            assert not pipeline["paused"]
            assert datetime.fromisoformat(pipeline["next_run"]) > datetime.now(UTC)
            assert [s["type"] for s in pipeline["steps"]] == ["sync", "dbt", "dbt"]
            done = {"pipeline_id": pipeline["id"], "state": "completed"}
            assert api.get("/orgs/demo/runs", params=done).json()["count"] == 2
            assert api.get("/orgs/demo/sources").json()["count"] == 1
            assert api.get("/orgs/demo/connections").json()["count"] == 1
        tree = process_tree(serve.pid)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=STOP_TIMEOUT_S) == 0, output.text
        deadline = time.monotonic() + 10
        while any(alive(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [p.pid for p in tree if alive(p)] == []
        assert _check_run_output(output.text, warehouse, STEP_NAMES_UNCHANGED) == rows
    finally:
        if serve.poll() is None:
            tree += process_tree(serve.pid)
        for proc in tree:
            if alive(proc):
                with suppress(psutil.Error):
                    proc.kill()
        serve.wait(timeout=30)


def test_the_example_project_is_committed_when_new_or_changed(tmp_path: Path) -> None:
    """The demo's repository gets a commit when the project is new or changed (a file added or
    removed), none when it is the same; dbt's own folders are left out."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE_PROJECT, project)
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")
    org_home = tmp_path / "org"

    url, done = prepare_repository(org_home, project)
    repository = org_home / "example-dbt-project"
    assert (url, done) == (repository.as_uri(), "made")
    assert prepare_repository(org_home, project)[1] == "unchanged"
    (project / "models" / "marts" / "extra.sql").write_text("select 1 as one\n")
    assert prepare_repository(org_home, project)[1] == "updated"
    (project / "models" / "marts" / "extra.sql").unlink()
    assert prepare_repository(org_home, project)[1] == "updated"

    def git(*arguments: str) -> str:
        done = subprocess.run(["git", *arguments], cwd=repository, capture_output=True, text=True, check=True)
        return done.stdout

    assert len(git("log", "--format=%H").split()) == 3
    assert git("status", "--porcelain") == ""
    assert git("branch", "--show-current").strip() == "main"
    tracked = set(git("ls-files").split())
    assert "dbt_project.yml" in tracked and "models/marts/customers.sql" in tracked
    assert not any(name.startswith("target/") for name in tracked)
    assert "models/marts/extra.sql" not in tracked
