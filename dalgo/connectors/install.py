"""Installing connectors: each version of each connector in its own virtual environment, made once.

Layout under the connectors folder (DALGO_CONNECTORS_DIR, by default `DALGO_HOME/connectors`):

    <name>-<version>/                  the connector's virtual environment
    <name>-<version>/bin/<name>        its executable
    <name>-<version>/.installed.json   written last: the install is complete
    <name>-<version>/spec-cloud.json   the connector's spec (cloud mode), once asked for (`spec.py`)
    .<name>-<version>.lock             the lock held while installing
    .spec-<random>/                    an empty scratch folder, the one folder a `spec` run may write
    installs.jsonl                     one line per install made, for the record

An install runs under an exclusive `fcntl.flock` on the lock file, so processes installing the same
connector at once make one install and the others wait for it and reuse it. An environment without
its marker file (an install that crashed or was killed) is never used: it is removed and remade.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from dalgo.connectors.catalogue import Connector, resolve

MARKER_FILE = ".installed.json"
INSTALL_LOG = "installs.jsonl"
DEFAULT_INSTALL_TIMEOUT_S = 900.0
OUTPUT_TAIL_LINES = 40


class ConnectorInstallError(RuntimeError):
    """A connector could not be installed; the message ends with the tail of uv's output."""


def default_connectors_dir() -> Path:
    """The connectors folder of the platform (DALGO_CONNECTORS_DIR, by default `DALGO_HOME/connectors`)."""
    from dalgo.settings import get_settings

    return get_settings().resolved_connectors_dir


def connectors_dir_or_default(connectors_dir: Path | None) -> Path:
    """The given connectors folder as an absolute path, or the platform's default one."""
    folder = connectors_dir if connectors_dir is not None else default_connectors_dir()
    return folder.expanduser().resolve()


def install_dir(connector: Connector | str, connectors_dir: Path | None = None) -> Path:
    """The folder of the connector's virtual environment (whether or not it is installed yet)."""
    item = resolve(connector)
    return connectors_dir_or_default(connectors_dir) / f"{item.name}-{item.version}"


def executable_path(connector: Connector | str, connectors_dir: Path | None = None) -> Path:
    """Where the connector's executable is once installed."""
    item = resolve(connector)
    return install_dir(item, connectors_dir) / "bin" / item.executable_name


def is_installed(connector: Connector | str, connectors_dir: Path | None = None) -> bool:
    """Whether the connector's install is complete (its marker file exists, and its executable)."""
    folder = install_dir(connector, connectors_dir)
    return (folder / MARKER_FILE).is_file() and executable_path(connector, connectors_dir).is_file()


def install_record(connector: Connector | str, connectors_dir: Path | None = None) -> dict[str, object]:
    """What the marker file of a complete install says: package, version, when, by which process."""
    record: dict[str, object] = json.loads(
        (install_dir(connector, connectors_dir) / MARKER_FILE).read_text(encoding="utf-8")
    )
    return record


def install_history(connectors_dir: Path | None = None) -> list[dict[str, object]]:
    """Every install made in the connectors folder, oldest first (one line each in `installs.jsonl`)."""
    log = connectors_dir_or_default(connectors_dir) / INSTALL_LOG
    if not log.is_file():
        return []
    lines = log.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def find_uv() -> list[str]:
    """The command that runs uv: next to this Python, on PATH, or `python -m uv`."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    on_path = shutil.which("uv")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    raise ConnectorInstallError(
        "uv was found neither next to the Python interpreter, nor on PATH, nor as a Python module"
    )


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run_uv(arguments: list[str], cwd: Path, timeout_s: float, what: str) -> str:
    command = [*find_uv(), *arguments]
    environment = {**os.environ, "UV_NO_PROGRESS": "1"}
    environment.pop("VIRTUAL_ENV", None)
    try:
        completed = subprocess.run(
            command,
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        output = error.output if isinstance(error.output, str) else (error.output or b"").decode()
        raise ConnectorInstallError(
            f"{what}: uv did not finish within {timeout_s:.0f} s\n{_tail(output)}"
        ) from error
    if completed.returncode != 0:
        raise ConnectorInstallError(
            f"{what}: uv exited with {completed.returncode}\n{_tail(completed.stdout)}"
        )
    return completed.stdout


def _write_marker(folder: Path, item: Connector, seconds: float) -> None:
    record = {
        "connector": item.name,
        "package": item.package,
        "version": item.version,
        "python": item.python,
        "overrides": list(item.overrides),
        "installed_at": datetime.now(UTC).isoformat(),
        "seconds": round(seconds, 2),
        "pid": os.getpid(),
    }
    partial = folder / f"{MARKER_FILE}.{uuid.uuid4().hex}.tmp"
    partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    partial.replace(folder / MARKER_FILE)
    with (folder.parent / INSTALL_LOG).open("a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def _install(item: Connector, folder: Path, *, compile_bytecode: bool, timeout_s: float) -> None:
    what = f"installing {item.requirement}"
    started = time.monotonic()
    if folder.exists():
        shutil.rmtree(folder)
    try:
        _run_uv(
            ["venv", "--quiet", "--no-project", "--python", item.python, str(folder)],
            cwd=folder.parent,
            timeout_s=timeout_s,
            what=what,
        )
        install_arguments = ["pip", "install", "--python", str(folder / "bin" / "python")]
        if compile_bytecode:
            install_arguments.append("--compile-bytecode")
        if item.overrides:
            overrides_file = folder / "overrides.txt"
            overrides_file.write_text("\n".join(item.overrides) + "\n", encoding="utf-8")
            install_arguments += ["--override", str(overrides_file)]
        install_arguments.append(item.requirement)
        remaining = max(1.0, timeout_s - (time.monotonic() - started))
        _run_uv(install_arguments, cwd=folder.parent, timeout_s=remaining, what=what)
        executable = folder / "bin" / item.executable_name
        if not executable.is_file():
            raise ConnectorInstallError(
                f"{what}: the package installed but provides no executable named {item.executable_name!r}"
            )
        _write_marker(folder, item, time.monotonic() - started)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def ensure_installed(
    connector: Connector | str,
    connectors_dir: Path | None = None,
    *,
    compile_bytecode: bool = True,
    timeout_s: float = DEFAULT_INSTALL_TIMEOUT_S,
) -> Path:
    """The connector's executable, installing the connector first if this version is not installed.

    Installs go into `<connectors_dir>/<name>-<version>` with `uv venv` and `uv pip install`, under a
    lock shared with other processes; a complete install is reused without taking the lock. Byte code
    is compiled at install time (once) so every later start of the connector is faster. Raises
    `ConnectorInstallError` (with the tail of uv's output) when the install fails.
    """
    item = resolve(connector)
    folder = install_dir(item, connectors_dir)
    executable = folder / "bin" / item.executable_name
    if is_installed(item, folder.parent):
        return executable
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(folder.parent / f".{folder.name}.lock"):
        if not is_installed(item, folder.parent):
            _install(item, folder, compile_bytecode=compile_bytecode, timeout_s=timeout_s)
    return executable
