"""How a connector process starts: inside the sandbox (`dalgo.sandbox`), seeing its own install
read-only, the files it is handed (config, catalog, state) read-only, and one folder read-write
(the org's own, or an empty scratch folder for a spec), with Airbyte's cloud deployment mode on.

The environment is `base_environment()` plus `DEPLOYMENT_MODE=cloud` and nothing else: no
`DALGO_*`, `PREFECT_*` or `AIRBYTE_*` variable of the platform, no cloud credentials. A connector's
secrets are in its config file, never in its environment.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

from dalgo.sandbox import Sandbox, python_install, sandbox_for
from dalgo.settings import Settings

CONNECTOR_ENVIRONMENT = {"DEPLOYMENT_MODE": "cloud"}
"""What a connector gets on top of the sandbox's base environment (Airbyte's cloud mode: connectors
that honour it, such as source-file, refuse local files)."""
FILE_OPTIONS = ("--config", "--catalog", "--state")
"""The connector protocol's options whose value is a file the connector must be able to read."""


def handed_files(args: Sequence[str]) -> list[Path]:
    """The files named by `--config`, `--catalog` and `--state` in a connector's arguments."""
    return [Path(value) for option, value in itertools.pairwise(args) if option in FILE_OPTIONS]


def connector_sandbox(
    venv: Path, work_dir: Path, files: Iterable[Path] = (), settings: Settings | None = None
) -> Sandbox:
    """The sandbox of one connector process: its virtual environment (and the Python it was made
    from) and `files` read-only, `work_dir` read-write, the connector environment only."""
    read_only = [*python_install(venv), *(path.absolute() for path in files)]
    return sandbox_for(work_dir, CONNECTOR_ENVIRONMENT, read_only=read_only, settings=settings)
