"""PyAirbyte's executor for an installed connector, starting every process of it (spec, check,
discover, read) in the connector's sandbox (`dalgo.connectors.runtime`).

Imports PyAirbyte: import this module only after `dalgo.connectors.source.prepare_airbyte()`.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from threading import Thread
from typing import IO

from airbyte import exceptions as exc
from airbyte._executors.base import ExceptionHolder, _pump_input, _stream_from_file
from airbyte._executors.local import PathExecutor
from airbyte._message_iterators import AirbyteMessageIterator

from dalgo.command_limit import stop_process_tree
from dalgo.connectors.runtime import connector_sandbox, handed_files
from dalgo.sandbox import SandboxedCommand
from dalgo.settings import Settings

_STOP_GRACE_S = 10.0
"""How long a connector that is no longer read from may take to end after SIGTERM."""


class SandboxedExecutor(PathExecutor):
    """Runs the connector at `path` (installed in the virtual environment `venv`) sandboxed, with
    `org_dir` as the only folder it may write, and the files PyAirbyte hands it bound read-only."""

    def __init__(
        self,
        name: str,
        *,
        path: Path,
        venv: Path,
        org_dir: Path,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(name, path=path)
        self.venv = venv
        self.org_dir = org_dir
        self.settings = settings

    def command(self, args: list[str]) -> SandboxedCommand:
        """The sandboxed command that runs the connector with these arguments."""
        mapped = self.map_cli_args(args)
        sandbox = connector_sandbox(self.venv, self.org_dir, handed_files(mapped), self.settings)
        return sandbox.command([*self._cli, *mapped])

    def execute(
        self,
        args: list[str],
        *,
        stdin: IO[str] | AirbyteMessageIterator | None = None,
        suppress_stderr: bool = False,
    ) -> Iterator[str]:
        """The connector's stdout lines, the process started in its sandbox (and held to the run's
        time limit for a command: CommandTimeLimitError once it was stopped for running past it)."""
        yield from stream_lines(self.command(args), stdin=stdin, suppress_stderr=suppress_stderr)

    def ensure_installation(self, *, auto_fix: bool = True) -> None:
        """The executable is there (PyAirbyte asks before every command; running `spec` each time,
        as PathExecutor does, would start one more sandboxed process per command)."""
        _ = auto_fix
        if not self.path.is_file():
            raise exc.AirbyteConnectorExecutableNotFoundError(connector_name=self.name)


def stream_lines(
    command: SandboxedCommand,
    *,
    stdin: IO[str] | AirbyteMessageIterator | None = None,
    suppress_stderr: bool = False,
) -> Iterator[str]:
    """Start the command and yield its stdout lines, as PyAirbyte's own `_stream_from_subprocess`
    does (messages pumped into its stdin from a thread, AirbyteSubprocessFailedError for a failing
    exit code), but with the sandbox's environment and time limit, and stopping every process of it
    when the reader stops early."""
    pumped = isinstance(stdin, AirbyteMessageIterator)
    process = command.start(
        stdin=subprocess.PIPE if pumped else stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if suppress_stderr else None,
        text=True,
        encoding="utf-8",
    )
    holder = ExceptionHolder()
    pump: Thread | None = None
    if isinstance(stdin, AirbyteMessageIterator):
        pump = Thread(target=_pump_input, args=(process.stdin, stdin, holder), daemon=True)
        pump.start()
    assert process.stdout is not None
    try:
        yield from _stream_from_file(process.stdout)
        process.wait()
    finally:
        try:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=_STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    stop_process_tree(process)
            if pump is not None:
                pump.join(timeout=_STOP_GRACE_S)
            code = process.wait()
            if command.time_limit is not None:
                command.time_limit.check()
            failure = holder.exception if not isinstance(holder.exception, BrokenPipeError) else None
            if code not in {0, -signal.SIGTERM}:
                raise exc.AirbyteSubprocessFailedError(
                    run_args=command.argv, exit_code=code, original_exception=failure
                )
            if failure is not None:
                raise failure
        finally:
            process.stdout.close()
