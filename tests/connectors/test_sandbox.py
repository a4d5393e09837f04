"""Connector processes run in the sandbox: what one can see of the worker, tried for real with a
probe started the way PyAirbyte starts a connector, and with source-file itself."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dalgo.connectors.install import install_dir
from dalgo.connectors.runtime import CONNECTOR_ENVIRONMENT, connector_environment
from dalgo.connectors.source import prepare_airbyte
from dalgo.sandbox import base_environment
from dalgo.settings import Settings

PROBE = """
import json, os, sys
args = sys.argv[1:]
config_path = args[args.index("--config") + 1]
def can_write(path):
    try:
        with open(path, "a") as handle:
            handle.write("x")
        return True
    except OSError:
        return False
print(json.dumps({
    "env": dict(os.environ),
    "config": open(config_path).read(),
    "config_writable": can_write(config_path),
    "own_file": open(os.path.join(os.getcwd(), "mine.txt")).read(),
    "own_folder_writable": can_write(os.path.join(os.getcwd(), "written.txt")),
    "other_org": os.path.exists(sys.argv[0].replace("test-org", "other-org")),
    "platform_key": os.path.exists(PLATFORM_KEY),
    "processes": len([name for name in os.listdir("/proc") if name.isdigit()]),
}))
"""


@pytest.fixture()
def worker_files(org_dir: Path) -> dict[str, Path]:
    """A platform file beside the orgs (as DALGO_HOME's key would be), and another org's file."""
    home = org_dir.parent.parent
    (home / "platform.key").write_text("platform-key", encoding="utf-8")
    other = org_dir.parent / "other-org"
    other.mkdir()
    (other / "probe").write_text("another org's file", encoding="utf-8")
    (org_dir / "mine.txt").write_text("the org's own file", encoding="utf-8")
    return {"key": home / "platform.key", "other": other / "probe"}


PRODUCTION = Settings(allow_private_networks=False)
"""A platform that refuses private networks, so connectors run in Airbyte's cloud mode."""


def _executor(
    connectors_dir: Path, org_dir: Path, path: Path, name: str, settings: Settings = PRODUCTION
) -> Any:
    prepare_airbyte(connectors_dir)
    from dalgo.connectors.executor import SandboxedExecutor

    venv = install_dir("source-file", connectors_dir)
    return SandboxedExecutor(name, path=path, venv=venv, org_dir=org_dir, settings=settings)


def test_a_connector_sees_its_config_and_its_org_and_nothing_of_the_platform(
    installed: dict[str, Path],
    connectors_dir: Path,
    org_dir: Path,
    worker_files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DALGO_DATABASE_URL", "PREFECT_API_AUTH_STRING", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "platform-secret")
    python = install_dir("source-file", connectors_dir) / "bin" / "python"
    probe = org_dir / "probe"
    code = PROBE.replace("PLATFORM_KEY", repr(str(worker_files["key"])))
    probe.write_text(f"#!{python}\n" + textwrap.dedent(code), encoding="utf-8")
    probe.chmod(0o755)
    executor = _executor(connectors_dir, org_dir, probe, "probe")
    from airbyte._util.temp_files import as_temp_files

    with as_temp_files([{"api_key": "the-org's-own-key"}]) as [config_file]:
        (line,) = [line for line in executor.execute(["check", "--config", config_file]) if line.strip()]
    seen = json.loads(line)
    assert seen["env"].pop("PWD") == str(org_dir.resolve())  # set by bubblewrap's --chdir
    assert seen["env"] == {**base_environment(), **CONNECTOR_ENVIRONMENT}
    assert json.loads(seen["config"]) == {"api_key": "the-org's-own-key"}
    assert not seen["config_writable"]
    assert seen["own_file"] == "the org's own file" and seen["own_folder_writable"]
    assert not seen["other_org"] and not seen["platform_key"]
    assert seen["processes"] <= 3
    assert (org_dir / "written.txt").is_file()


def test_the_command_binds_the_handed_files_read_only(
    connectors_dir: Path, org_dir: Path, tmp_path: Path
) -> None:
    executable = install_dir("source-file", connectors_dir) / "bin" / "source-file"
    executor = _executor(connectors_dir, org_dir, executable, "source-file")
    files = [str(tmp_path / name) for name in ("config.json", "catalog.json", "state.txt")]
    command = executor.command(["read", "--config", files[0], "--catalog", files[1], "--state", files[2]])
    assert command.env == {**base_environment(), "DEPLOYMENT_MODE": "cloud"}
    for path in files:
        at = command.argv.index(path)
        assert command.argv[at - 1] == "--ro-bind" and command.argv[at + 1] == path
    assert ["--bind", str(org_dir.resolve()), str(org_dir.resolve())] == command.argv[
        command.argv.index("--bind") : command.argv.index("--bind") + 3
    ]
    tail = [str(executable), "read", "--config", files[0], "--catalog", files[1], "--state", files[2]]
    assert command.argv[-len(tail) :] == tail and command.argv[-len(tail) - 1] == "--"
    environment = [f"{key}={value}" for key, value in command.env.items()]
    assert command.argv_with_env() == ["/usr/bin/env", "-i", *environment, *command.argv]


def test_cloud_mode_follows_the_platforms_private_network_setting(
    connectors_dir: Path, org_dir: Path
) -> None:
    """Airbyte's cloud mode also refuses private addresses, so a platform that allows them (the
    embedded default) runs its connectors without it; a spec is always read in cloud mode."""
    executable = install_dir("source-file", connectors_dir) / "bin" / "source-file"
    embedded = _executor(
        connectors_dir, org_dir, executable, "source-file", Settings(allow_private_networks=True)
    )
    assert embedded.command(["check", "--config", "c.json"]).env == base_environment()
    production = _executor(connectors_dir, org_dir, executable, "source-file")
    assert production.command(["check", "--config", "c.json"]).env["DEPLOYMENT_MODE"] == "cloud"
    assert connector_environment(Settings(allow_private_networks=True), spec=True) == CONNECTOR_ENVIRONMENT


def test_source_file_reads_no_local_file_even_past_our_validation(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path, worker_files: dict[str, Path]
) -> None:
    """Without our own refusal (the Source made directly), the connector runs in cloud mode inside
    the sandbox: local storage is refused, and the platform's file is not there to read anyway."""
    executable = install_dir("source-file", connectors_dir) / "bin" / "source-file"
    executor = _executor(connectors_dir, org_dir, executable, "source-file")
    from airbyte.exceptions import PyAirbyteError
    from airbyte.sources.base import Source

    for path in ("/etc/passwd", str(worker_files["key"]), str(worker_files["other"])):
        config = {"dataset_name": "loot", "format": "csv", "url": path, "provider": {"storage": "local"}}
        source = Source(executor=executor, name="source-file", config=config)
        with pytest.raises(PyAirbyteError) as caught:
            source.check()
        told = f"{caught.value} {caught.value.log_text} {caught.value.context}"
        # cloud mode: the spec offers no local storage, and source-file's reader refuses it too
        assert "{'storage': 'local'} is not valid" in told or "local file storage is not supported" in told
        assert "root:x:0:0" not in told and "platform-key" not in told and "another org" not in told
