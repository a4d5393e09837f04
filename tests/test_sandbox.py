"""The sandbox tenant code runs in, tried for real with bubblewrap: what a sandboxed process sees
of the files, the environment and the other processes; the same environment with the sandbox off;
and a clear refusal where bubblewrap is missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dalgo import sandbox
from dalgo.sandbox import Sandbox, SandboxUnavailableError, base_environment
from tests.secrets_registry import TENANT_WAREHOUSE_PASSWORD

TENANT_ENV = {"DBT_ENV_SECRET_PASSWORD": TENANT_WAREHOUSE_PASSWORD}

PROBE = r"""
org="$1"; sibling="$2"; home="$3"
echo written > "$org/written" && echo "org-writable"
if [ -e "$sibling" ]; then echo "sibling-visible"; else echo "sibling-hidden"; fi
if cat "$sibling/secret.txt" 2>/dev/null; then echo "sibling-readable"; fi
if [ -e "$home/prefect-api-auth" ]; then echo "root-visible"; else echo "root-hidden"; fi
if cat "$home/prefect-encryption.key" 2>/dev/null; then echo "key-readable"; fi
for entry in /proc/[0-9]*; do echo "proc: $(cat "$entry/comm" 2>/dev/null)"; done
env | sed 's/^/env: /'
sed 's/^/passwd: /' /etc/passwd
"""


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DALGO_HOME with two orgs' folders and the root files a tenant must never see; the
    platform's own variables set in this (the platform's) process."""
    root = tmp_path / "home"
    for org in ("alpha", "beta"):
        (root / "orgs" / org).mkdir(parents=True)
    (root / "orgs" / "beta" / "secret.txt").write_text("beta's data")
    (root / "prefect-api-auth").write_text("dalgo:platform-secret\n")
    (root / "prefect-encryption.key").write_text("platform-key\n")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "dalgo:platform-secret")
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", "dalgo:platform-secret")
    monkeypatch.setenv("DALGO_DATABASE_URL", "postgresql://platform:secret@127.0.0.1/dalgo")
    monkeypatch.setenv("DALGO_HOME", str(root))
    return root


@pytest.fixture()
def no_bwrap_cache() -> Iterator[None]:
    """The bubblewrap probe is cached per process: start and end with a fresh one."""
    sandbox._bwrap_problem.cache_clear()
    yield
    sandbox._bwrap_problem.cache_clear()


def _probe(home: Path, mode: str) -> tuple[Sandbox, list[str]]:
    org_dir = home / "orgs" / "alpha"
    box = Sandbox(org_dir, TENANT_ENV, mode=mode)
    command = box.command(
        ["/bin/sh", "-c", PROBE, "probe", str(org_dir), str(home / "orgs" / "beta"), str(home)]
    )
    done = command.run(60)
    assert done.returncode == 0, done.stderr
    return box, done.stdout.splitlines()


def _env_names(lines: list[str]) -> set[str]:
    return {line.removeprefix("env: ").split("=", 1)[0] for line in lines if line.startswith("env: ")}


@pytest.mark.parametrize("mode", ["bwrap", "off"])
def test_a_sandboxed_commands_environment_holds_no_platform_variable(home: Path, mode: str) -> None:
    """The platform's process holds Prefect's credential and DALGO_* settings; the environment a
    tenant command is started with holds only the allowlist and what the caller gave it."""
    command = Sandbox(home / "orgs" / "alpha", TENANT_ENV, mode=mode).command(["/bin/true"])
    assert "PREFECT_API_AUTH_STRING" in os.environ
    assert command.env == {**base_environment(), **TENANT_ENV}
    assert not [name for name in command.env if name.startswith(("PREFECT_", "DALGO_"))]
    assert "dalgo:platform-secret" not in " ".join([*command.argv, *command.env.values()])


def test_a_sandboxed_process_sees_its_org_only(home: Path, no_bwrap_cache: None) -> None:
    """Under bubblewrap: the org's folder read-write; no sibling org's folder, no DALGO_HOME root
    file (Prefect's credential, the encryption key), no DALGO_*/PREFECT_* variable, and no other
    process than its own in /proc."""
    _, lines = _probe(home, "bwrap")
    assert "org-writable" in lines
    assert (home / "orgs" / "alpha" / "written").read_text() == "written\n"
    assert "sibling-hidden" in lines
    assert "sibling-readable" not in lines and "beta's data" not in lines
    assert "root-hidden" in lines
    assert "key-readable" not in lines and "platform-key" not in lines
    names = _env_names(lines)
    assert "DBT_ENV_SECRET_PASSWORD" in names
    assert not [name for name in names if name.startswith(("PREFECT_", "DALGO_"))], names
    assert not [line for line in lines if "platform-secret" in line]
    processes = [line.removeprefix("proc: ") for line in lines if line.startswith("proc: ")]
    assert processes and set(processes) <= {"bwrap", "sh", "cat", "sed"}, processes
    accounts = [line.removeprefix("passwd: ") for line in lines if line.startswith("passwd: ")]
    assert accounts == sandbox.USER_FILES["passwd"].splitlines(), "the machine's accounts are not shown"


def test_with_the_sandbox_off_the_same_environment_is_used_without_bwrap(home: Path) -> None:
    """`off` starts the command as it is (no bubblewrap: the machine's files are visible, which is
    why it is only for trusted orgs), with the same allowlisted environment as under bwrap."""
    box = Sandbox(home / "orgs" / "alpha", TENANT_ENV, mode="off")
    argv = ["/bin/sh", "-c", "env"]
    command = box.command(argv)
    assert command.argv == argv
    assert command.env == {**base_environment(), **TENANT_ENV}
    _, lines = _probe(home, "off")
    assert "sibling-visible" in lines  # no confinement of files without bubblewrap
    names = _env_names(lines)
    assert "DBT_ENV_SECRET_PASSWORD" in names
    assert not [name for name in names if name.startswith(("PREFECT_", "DALGO_"))], names


def test_without_bwrap_tenant_code_is_refused_with_a_clear_message(
    home: Path, monkeypatch: pytest.MonkeyPatch, no_bwrap_cache: None
) -> None:
    """Where bubblewrap is asked for but missing, the command is refused, never run unsandboxed."""
    real_which = shutil.which

    def which(name: str, *args: object, **kwargs: object) -> str | None:
        return None if name == "bwrap" else real_which(name)

    monkeypatch.setattr(shutil, "which", which)
    box = Sandbox(home / "orgs" / "alpha", TENANT_ENV)
    with pytest.raises(SandboxUnavailableError) as refused:
        box.command(["/bin/true"])
    message = str(refused.value)
    assert "bubblewrap" in message and "not installed" in message
    assert "DALGO_SANDBOX=off" in message
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(shutil, "which", real_which)
    sandbox._bwrap_problem.cache_clear()
    with pytest.raises(SandboxUnavailableError, match="not installed"):
        box.command(["/bin/true"])


def test_the_api_warns_at_start_when_the_sandbox_is_off(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    from dalgo.api.main import create_app
    from dalgo.settings import Settings

    with caplog.at_level("WARNING"):
        create_app(Settings(home=home, sandbox="off", database_url=f"sqlite:///{home / 'api.db'}"))
    assert sandbox.SANDBOX_OFF_WARNING in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        create_app(Settings(home=home, database_url=f"sqlite:///{home / 'api.db'}"))
    assert sandbox.SANDBOX_OFF_WARNING not in caplog.text
