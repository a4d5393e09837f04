from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dalgo.connectors.catalogue import Connector
from dalgo.connectors.install import (
    MARKER_FILE,
    ConnectorInstallError,
    ensure_installed,
    install_dir,
    install_history,
    install_record,
    is_installed,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_installed_connectors_have_their_own_environment(
    installed: dict[str, Path], connectors_dir: Path
) -> None:
    for name, executable in installed.items():
        folder = install_dir(name, connectors_dir)
        assert executable == folder / "bin" / name
        assert executable.is_file() and os.access(executable, os.X_OK)
        assert "version_info = 3.11" in (folder / "pyvenv.cfg").read_text()
        assert is_installed(name, connectors_dir)
        record = install_record(name, connectors_dir)
        assert record["connector"] == name and record["version"] == folder.name.rsplit("-", 1)[1]
    package_dir = install_dir("source-faker", connectors_dir) / "lib" / "python3.11" / "site-packages"
    assert any((package_dir / "source_faker" / "__pycache__").glob("*.pyc")), "byte code is compiled"


def test_installing_again_reuses_the_install(installed: dict[str, Path], connectors_dir: Path) -> None:
    marker = install_dir("source-faker", connectors_dir) / MARKER_FILE
    before = (marker.stat().st_mtime_ns, install_record("source-faker", connectors_dir))
    started = time.monotonic()
    again = ensure_installed("source-faker", connectors_dir)
    assert time.monotonic() - started < 1.0
    assert again == installed["source-faker"]
    assert (marker.stat().st_mtime_ns, install_record("source-faker", connectors_dir)) == before
    installs = [str(entry["connector"]) for entry in install_history(connectors_dir)]
    assert sorted(installs) == ["source-faker", "source-file"]


INSTALL_IN_A_PROCESS = """
import json, os, sys
from pathlib import Path
from dalgo.connectors.install import ensure_installed
path = ensure_installed("source-faker", Path(sys.argv[1]), compile_bytecode=False)
print(json.dumps({"pid": os.getpid(), "path": str(path)}))
"""


def test_two_processes_installing_at_once_make_one_install(tmp_path: Path) -> None:
    folder = tmp_path / "connectors"
    half_finished = install_dir("source-faker", folder) / "bin" / "source-faker"
    half_finished.parent.mkdir(parents=True)
    half_finished.write_text("left by an install that was killed\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", INSTALL_IN_A_PROCESS, str(folder)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    answers = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        answers.append(json.loads(stdout.strip().splitlines()[-1]))
    assert answers[0]["path"] == answers[1]["path"] == str(half_finished)
    history = install_history(folder)
    assert len(history) == 1
    assert history[0]["pid"] in {answer["pid"] for answer in answers}
    assert half_finished.read_text().startswith("#!")
    assert sorted(path.name for path in folder.iterdir()) == [
        ".source-faker-7.2.1.lock",
        "installs.jsonl",
        "source-faker-7.2.1",
    ]


def test_a_failed_install_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    missing = Connector(name="source-faker", title="Faker", package="airbyte-source-faker", version="0.0.0")
    with pytest.raises(ConnectorInstallError) as raised:
        ensure_installed(missing, tmp_path, compile_bytecode=False)
    message = str(raised.value)
    assert "airbyte-source-faker==0.0.0" in message
    assert "uv exited with" in message and len(message.splitlines()) > 1
    assert not install_dir(missing, tmp_path).exists()
    assert install_history(tmp_path) == []
