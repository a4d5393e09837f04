"""How a connector process starts: inside the sandbox (`dalgo.sandbox`), seeing its own install
read-only, the files it is handed (config, catalog, state) read-only, and one folder read-write
(the org's own, or an empty scratch folder for a spec), in Airbyte's cloud deployment mode.

The environment is `base_environment()` plus `DEPLOYMENT_MODE=cloud` and nothing else: no
`DALGO_*`, `PREFECT_*` or `AIRBYTE_*` variable of the platform, no cloud credentials. A connector's
secrets are in its config file, never in its environment.

Cloud mode makes the connectors that honour it refuse local files, and (in the Airbyte CDK) refuse
every private and loopback address too. That second refusal is the platform's own setting
(`DALGO_ALLOW_PRIVATE_NETWORKS`), so a platform that allows private networks (the embedded default,
`make demo`, the tests, whose files are served on 127.0.0.1) runs check, discover and read without
cloud mode; local files stay out of reach there through our own validation
(`dalgo.connectors.confinement`) and the sandbox, which shows no file of the machine but the
system's. The spec is always read in cloud mode (source-file then offers no local storage).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

from dalgo.sandbox import Sandbox, python_install, sandbox_for
from dalgo.settings import Settings, get_settings

CONNECTOR_ENVIRONMENT = {"DEPLOYMENT_MODE": "cloud"}
"""What a connector gets on top of the sandbox's base environment (Airbyte's cloud mode: connectors
that honour it, such as source-file, refuse local files)."""


def connector_environment(settings: Settings | None = None, *, spec: bool = False) -> dict[str, str]:
    """The connector's variables on top of the sandbox's base: cloud mode for a spec, and for every
    other command unless the platform allows private networks (see the module's docstring)."""
    if spec or not (settings or get_settings()).private_networks_allowed:
        return dict(CONNECTOR_ENVIRONMENT)
    return {}


FILE_OPTIONS = ("--config", "--catalog", "--state")
"""The connector protocol's options whose value is a file the connector must be able to read."""


def handed_files(args: Sequence[str]) -> list[Path]:
    """The files named by `--config`, `--catalog` and `--state` in a connector's arguments."""
    return [Path(value) for option, value in itertools.pairwise(args) if option in FILE_OPTIONS]


def connector_sandbox(
    venv: Path,
    work_dir: Path,
    files: Iterable[Path] = (),
    settings: Settings | None = None,
    *,
    spec: bool = False,
) -> Sandbox:
    """The sandbox of one connector process: its virtual environment (and the Python it was made
    from) and `files` read-only, `work_dir` read-write, the connector environment only."""
    read_only = [*python_install(venv), *(path.absolute() for path in files)]
    env = connector_environment(settings, spec=spec)
    return sandbox_for(work_dir, env, read_only=read_only, settings=settings)
