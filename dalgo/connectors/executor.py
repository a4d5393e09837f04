"""PyAirbyte's executor for an installed connector, starting every process of it (spec, check,
discover, read) in the connector's sandbox (`dalgo.connectors.runtime`).

Imports PyAirbyte: import this module only after `dalgo.connectors.source.prepare_airbyte()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from airbyte import exceptions as exc
from airbyte._executors.base import _stream_from_subprocess
from airbyte._executors.local import PathExecutor
from airbyte._message_iterators import AirbyteMessageIterator

from dalgo.connectors.runtime import connector_sandbox, handed_files
from dalgo.sandbox import SandboxedCommand
from dalgo.settings import Settings


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
        """The connector's stdout lines, the process started in its sandbox. PyAirbyte starts it
        without an environment argument, so the (secret-free) environment goes on the command."""
        argv = self.command(args).argv_with_env()
        with _stream_from_subprocess(argv, stdin=stdin, suppress_stderr=suppress_stderr) as lines:
            yield from lines

    def ensure_installation(self, *, auto_fix: bool = True) -> None:
        """The executable is there (PyAirbyte asks before every command; running `spec` each time,
        as PathExecutor does, would start one more sandboxed process per command)."""
        _ = auto_fix
        if not self.path.is_file():
            raise exc.AirbyteConnectorExecutableNotFoundError(connector_name=self.name)
