"""One dbt command, run as the dbt CLI in a sandboxed child process, and its outcome summarised.

The command is `<platform venv>/bin/dbt <args>` started through `dalgo.sandbox`: under bubblewrap
it sees the system read-only, the platform's virtual environment and Python read-only, and the
org's own folder (`DALGO_HOME/orgs/<slug>/`, where the checkout, target, logs and rendered
profiles.yml live) read-write. Its environment is only `base_environment()`, the warehouse's
variables profiles.yml reads (`DBT_ENV_SECRET_*`, `DBT_DALGO_*`) and dbt's own settings
(`DBT_PROJECT_DIR`, `DBT_TARGET_PATH`, JSON log lines, no usage statistics): nothing named `DALGO_*`
or `PREFECT_*`, no credential of the platform.

dbt writes one JSON event per line; `dalgo.flows.dbt_events` forwards each message to the run's
logs as it comes and makes one task run per node. After the command, the nodes' results are read
from `target/run_results.json`. The child is killed if this side stops reading (an error or a
cancelled run); under bubblewrap it also dies with the flow-run process (`--die-with-parent`).
Past the org's time limit for a command it is stopped (`dalgo.command_limit`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from dalgo.blocks.warehouses.base import scrub
from dalgo.command_limit import stop_process_tree
from dalgo.flows.dbt_events import DbtEventReader, NodeTaskRuns, node_label, parse_results
from dalgo.flows.dbt_profiles import ProjectError, read_project_file
from dalgo.sandbox import SandboxedCommand, platform_python_install, sandbox_for
from dalgo.settings import Settings

Outcome = Literal["success", "warnings", "failed"]
FAILED_STATUSES = frozenset({"error", "runtime error"})
WARNING_STATUSES = frozenset({"fail", "warn", "partial success"})
MAX_MESSAGE_LENGTH = 1000
_MAX_NAMED = 5
_STDERR_LINES = 40


@dataclass
class DbtOutcome:
    """What a dbt command did: its outcome, a sentence, and one entry per node it ran."""

    outcome: Outcome
    message: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """How many nodes ended in each status."""
        return dict(sorted(Counter(node["status"] for node in self.nodes).items()))


def _node_summary(
    result: dict[str, Any], names: dict[str, tuple[str, str]], secrets: list[str]
) -> dict[str, Any]:
    unique_id = str(result.get("unique_id") or "")
    kind, name = node_label(unique_id, names)
    adapter_response = result.get("adapter_response")
    rows = adapter_response.get("rows_affected") if isinstance(adapter_response, dict) else None
    failures = result.get("failures")
    message = result.get("message")
    return {
        "unique_id": unique_id,
        "name": name,
        "type": kind,
        "status": str(result.get("status") or ""),
        "execution_time_s": round(float(result.get("execution_time") or 0.0), 3),
        "rows_affected": rows if isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0 else None,
        "failures": failures if isinstance(failures, int) and not isinstance(failures, bool) else None,
        "message": scrub(str(message), secrets) if message is not None else None,
    }


def _names(nodes: Iterable[dict[str, Any]]) -> str:
    listed = [f"{node['type']} {node['name']}" for node in nodes]
    shown = ", ".join(listed[:_MAX_NAMED])
    return shown + (f" and {len(listed) - _MAX_NAMED} more" if len(listed) > _MAX_NAMED else "")


def _shorten(text: str, secrets: list[str]) -> str:
    text = scrub(text.strip(), secrets)
    return text if len(text) <= MAX_MESSAGE_LENGTH else text[: MAX_MESSAGE_LENGTH - 1].rstrip() + "…"


def summarise(label: str, nodes: list[dict[str, Any]], success: bool, secrets: list[str]) -> DbtOutcome:
    """The outcome of a finished command: failed when a node errored (or dbt reported failure with
    no failing test), with warnings when tests failed or warned, a success otherwise."""
    errored = [node for node in nodes if node["status"] in FAILED_STATUSES]
    warned = [node for node in nodes if node["status"] in WARNING_STATUSES]
    if errored:
        first = errored[0]
        reason = _shorten(str(first["message"] or "no message"), secrets)
        return DbtOutcome("failed", f"dbt {label} failed in {_names(errored)}: {reason}", [*nodes], 0.0)
    if warned:
        return DbtOutcome("warnings", f"dbt {label} finished, but {_names(warned)} did not pass.", nodes)
    if not success:
        return DbtOutcome("failed", f"dbt {label} did not succeed.", nodes)
    done = Counter(node["type"] for node in nodes)
    what = ", ".join(f"{count} {kind}{'s' if count != 1 else ''}" for kind, count in sorted(done.items()))
    return DbtOutcome("success", f"dbt {label} succeeded" + (f": {what}." if what else "."), nodes)


@dataclass(frozen=True)
class DbtInvocation:
    """Where a dbt command runs: the org's folder (the sandbox's only writable place), the project
    and dbt's folders inside it, and the variables profiles.yml reads."""

    org_dir: Path
    project_dir: Path
    profiles_dir: Path
    target_dir: Path
    log_dir: Path
    profile_env: Mapping[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """The dbt process's variables, on top of the sandbox's `base_environment()`."""
        return {
            **self.profile_env,
            "DBT_PROJECT_DIR": str(self.project_dir),
            "DBT_PROFILES_DIR": str(self.profiles_dir),
            "DBT_TARGET_PATH": str(self.target_dir),
            "DBT_LOG_PATH": str(self.log_dir),
            "DBT_LOG_FORMAT": "json",
            "DBT_LOG_LEVEL": "info",
            "DBT_LOG_LEVEL_FILE": "none",
            "DBT_USE_COLORS": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PYTHONWARNINGS": "ignore",
        }

    def command(self, args: Sequence[str], settings: Settings | None = None) -> SandboxedCommand:
        """`dbt <args>` as it must be started; SandboxUnavailableError when it cannot be sandboxed."""
        sandbox = sandbox_for(
            self.org_dir,
            env=self.environment(),
            read_only=platform_python_install(),
            cwd=self.project_dir,
            settings=settings,
        )
        argv = [str(Path(sys.executable).parent / "dbt"), *args]
        setpriv = shutil.which("setpriv")
        if sandbox.mode == "off" and setpriv:
            argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]  # what bwrap does when on
        return sandbox.command(argv)


def _drain(stream: IO[str], tail: deque[str]) -> None:
    for line in stream:
        tail.append(line.rstrip("\n"))


def _stream(command: SandboxedCommand, reader: DbtEventReader, stderr: deque[str]) -> int:
    """Start the command, hand each line of its output to the reader; its exit code. The command
    (with every process it started) is killed when reading stops early; CommandTimeLimitError when it
    ran past its time limit."""
    process = command.start(
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    assert process.stdout is not None and process.stderr is not None
    drain = threading.Thread(target=_drain, args=(process.stderr, stderr), daemon=True)
    drain.start()
    try:
        for line in process.stdout:
            reader.line(line)
        code: int = process.wait()
    finally:
        if process.poll() is None:
            stop_process_tree(process)
            process.wait()
        drain.join(5)
    if command.time_limit is not None:
        command.time_limit.check()
    return code


def run_dbt(
    args: list[str],
    invocation: DbtInvocation,
    secrets: list[str],
    log: Callable[[int, str], None],
    settings: Settings | None = None,
) -> DbtOutcome:
    """Run `dbt <args>` sandboxed, its lines sent to `log(level, message)` as they come; never
    raises for a dbt failure. SandboxUnavailableError when the sandbox cannot start here,
    CommandTimeLimitError when dbt ran past the org's time limit (and was stopped)."""
    label = " ".join(arg for arg in args[:2] if not arg.startswith("-"))
    command = invocation.command(args, settings)
    results_file = invocation.target_dir / "run_results.json"
    results_file.unlink(missing_ok=True)
    tasks = NodeTaskRuns()
    reader = DbtEventReader(log, secrets, tasks)
    stderr: deque[str] = deque(maxlen=_STDERR_LINES)
    started = time.monotonic()
    try:
        code = _stream(command, reader, stderr)
    except OSError as exc:
        return DbtOutcome("failed", f"dbt {label} could not be started: {exc.strerror or exc}.")
    finally:
        tasks.close()
    try:
        text = read_project_file(results_file) or ""
    except ProjectError:
        text = ""
    nodes = [_node_summary(item, reader.names, secrets) for item in parse_results(text)]
    if code != 0 and not nodes:
        reason = (
            "\n".join(reader.errors)
            or "\n".join(line for line in stderr if line.strip())
            or f"exit code {code}"
        )
        outcome = DbtOutcome("failed", f"dbt {label} could not run: {_shorten(reason, secrets)}")
    else:
        outcome = summarise(label, nodes, code == 0, secrets)
    outcome.duration_s = round(time.monotonic() - started, 3)
    return outcome
