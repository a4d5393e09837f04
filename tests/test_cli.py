"""The `dalgo` command line, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from dalgo.api.main import create_app
from dalgo.settings import Settings


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dalgo.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_create_user_makes_a_platform_admin_who_can_make_orgs(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    env = {"DALGO_HOME": str(tmp_path), "DALGO_DATABASE_URL": make_database("cli")}
    made = run_cli(
        "admin",
        "create-user",
        "--email",
        "Root@Example.org",
        "--password",
        "longpassword",
        "--platform-admin",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert "Made platform admin root@example.org" in made.stdout

    again = run_cli(
        "admin", "create-user", "--email", "root@example.org", "--password", "longpassword", env=env
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr

    short = run_cli("admin", "create-user", "--email", "b@example.org", "--password", "short", env=env)
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    bad = run_cli("admin", "create-user", "--email", "not-an-email", "--password", "longpassword", env=env)
    assert bad.returncode == 2

    settings = Settings(home=tmp_path, database_url=env["DALGO_DATABASE_URL"])
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login", json={"email": "root@example.org", "password": "longpassword"}
        )
        assert token.status_code == 200
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert client.get("/api/v1/me", headers=headers).json()["is_platform_admin"] is True
        assert client.post("/api/v1/orgs", json={"name": "First org"}, headers=headers).status_code == 201
