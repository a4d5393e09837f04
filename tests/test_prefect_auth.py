"""Prefect's API demands a credential (Prefect's basic auth): calls without it answer 401, the
platform's clients send it, and tenant code (sandboxed) has no way to get it.

The session's Prefect server runs with PREFECT_SERVER_API_AUTH_STRING (tests/conftest.py), and
this process holds PREFECT_API_AUTH_STRING (tests/prefect_env.py), as the API and the worker do
under `dalgo serve`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prefect.exceptions import PrefectHTTPStatusError
from pydantic import SecretStr

from dalgo.deployments.client import auth_headers, prefect_auth_string, prefect_client
from dalgo.sandbox import Sandbox, platform_python_install
from dalgo.settings import Settings
from dalgo.stack.supervisor import AUTH_FILE, LocalStack, local_auth_string, settings_env
from tests import prefect_env

# (method, path, body): reading every org's blocks with their secrets, and every org's runs.
ATTACKS = [
    ("POST", "/block_documents/filter", {"include_secrets": True}),
    ("POST", "/flow_runs/filter", {}),
    ("POST", "/deployments/filter", {}),
    ("GET", "/admin/settings", None),
]

TENANT_CALL = """
import json, os, sys, urllib.error, urllib.request
url = sys.argv[1]
request = urllib.request.Request(url, data=json.dumps({"include_secrets": True}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
auth = os.environ.get("PREFECT_API_AUTH_STRING")
print("credential:", "present" if auth else "absent")
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        print("status:", response.status)
except urllib.error.HTTPError as error:
    print("status:", error.code)
"""


@pytest.mark.parametrize(("method", "path", "body"), ATTACKS)
def test_a_prefect_api_call_without_the_credential_answers_401(
    prefect_api_url: str, method: str, path: str, body: dict[str, object] | None
) -> None:
    """Without the credential, or with a wrong one, Prefect's API answers 401; with it, 200."""
    url = f"{prefect_api_url}{path}"
    bare = httpx.request(method, url, json=body, timeout=30)
    assert bare.status_code == 401, bare.text
    wrong = httpx.request(method, url, json=body, headers=auth_headers("dalgo-test:guessed"), timeout=30)
    assert wrong.status_code == 401, wrong.text
    held = httpx.request(method, url, json=body, headers=auth_headers(prefect_env.AUTH_STRING), timeout=30)
    assert held.status_code == 200, held.text


def test_prefect_health_answers_without_the_credential(prefect_api_url: str) -> None:
    """Only the health probe is open (Prefect's own rule, for load balancers); it tells nothing."""
    health = httpx.get(f"{prefect_api_url}/health", timeout=30)
    assert health.status_code == 200
    assert health.json() is True


def test_the_platforms_prefect_client_sends_the_credential(settings: Settings) -> None:
    """PREFECT_API_AUTH_STRING in the environment reaches the settings and `prefect_client`; a
    client holding a wrong credential is refused, so it is really the settings' value that is sent."""
    assert settings.prefect_api_auth_string is not None
    assert prefect_auth_string(settings) == prefect_env.AUTH_STRING

    async def read(with_settings: Settings) -> int:
        async with prefect_client(with_settings) as client:
            return len(await client.read_flow_runs(limit=1))

    assert asyncio.run(read(settings)) in (0, 1)
    wrong = settings.model_copy(update={"prefect_api_auth_string": SecretStr("dalgo-test:guessed")})
    with pytest.raises(PrefectHTTPStatusError, match="401"):
        asyncio.run(read(wrong))


def test_the_api_health_route_reaches_prefect_with_the_credential(client: TestClient) -> None:
    """The API's own health check of Prefect is an authenticated client too."""
    health = client.get("/api/v1/health")
    assert health.status_code == 200, health.text
    assert health.json()["prefect"] == "ok"


def test_tenant_code_in_the_sandbox_cannot_call_prefect(
    prefect_api_url: str, settings: Settings, tmp_path: Path
) -> None:
    """The attack as tenant code would make it: a sandboxed process (as a dbt model's or a
    connector's) on the same machine calls Prefect's API for every org's block secrets. It holds no
    credential (not in its environment, and DALGO_HOME's root, where `dalgo serve` keeps it, is not
    in its file system), so Prefect answers 401."""
    home = settings.resolved_home
    (home / AUTH_FILE).write_text(prefect_env.AUTH_STRING + "\n")
    org_dir = settings.org_home("attacker")
    org_dir.mkdir(parents=True, exist_ok=True)
    box = Sandbox(org_dir, read_only=platform_python_install(), mode=settings.sandbox)
    script = TENANT_CALL + f"\nprint('file:', os.path.exists({json.dumps(str(home / AUTH_FILE))}))\n"
    command = box.command([sys.executable, "-c", script, f"{prefect_api_url}/block_documents/filter"])
    done = command.run(60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "credential: absent" in lines
    assert "file: False" in lines
    assert "status: 401" in lines, done.stdout


def test_serve_makes_the_credential_once_and_keeps_it_private(tmp_path: Path) -> None:
    """Without PREFECT_SERVER_API_AUTH_STRING, `dalgo serve` makes `dalgo:<random>` once, in a
    file of DALGO_HOME that only its owner may read, and uses the same one at every start."""
    made, was_made = local_auth_string(tmp_path)
    assert was_made and made.startswith("dalgo:") and len(made) > 40
    path = tmp_path / AUTH_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    again, was_made = local_auth_string(tmp_path)
    assert (again, was_made) == (made, False)


def test_the_stack_gives_the_credential_to_its_children_under_prefects_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's and the API's environment hold PREFECT_API_AUTH_STRING (the server's value),
    never the server's own variable nor a DALGO_* copy; an operator's
    PREFECT_SERVER_API_AUTH_STRING wins over the local file."""
    said: list[str] = []
    monkeypatch.delenv("PREFECT_SERVER_API_AUTH_STRING", raising=False)
    stack = LocalStack(Settings(home=tmp_path, prefect_api_url=None), say=said.append)
    stack.server_auth_string()
    kept = (tmp_path / AUTH_FILE).read_text().strip()
    assert stack.env["PREFECT_API_AUTH_STRING"] == kept == stack.auth_string
    assert prefect_auth_string(stack.settings) == kept
    assert "PREFECT_SERVER_API_AUTH_STRING" not in stack.env
    assert not [v for k, v in stack.env.items() if k.startswith("DALGO_") and kept in v]
    assert any(str(tmp_path / AUTH_FILE) in line and kept not in line for line in said), said

    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", "ops:from-the-environment")
    stack = LocalStack(Settings(home=tmp_path, prefect_api_url=None), say=said.append)
    stack.server_auth_string()
    assert stack.env["PREFECT_API_AUTH_STRING"] == "ops:from-the-environment"
    assert stack.credential_place == "PREFECT_SERVER_API_AUTH_STRING"


def test_settings_passed_to_children_never_copy_the_credential() -> None:
    settings = Settings(prefect_api_auth_string=SecretStr("dalgo:secret-value"))
    env = settings_env(settings)
    assert not [name for name, value in env.items() if "secret-value" in value or "AUTH" in name]
