"""The `profiles.yml` a dbt command runs with, rendered from the org's warehouse block.

It lives in a private temporary folder (mode 0700, the file 0600) for exactly as long as the
command runs. No value of the warehouse is written into it: each text value is read by dbt from an
environment variable set for the command (`{{ env_var(...) }}`), so neither Prefect's templating
nor dbt's Jinja ever interprets text a tenant chose, and the secrets go through variables named
`DBT_ENV_SECRET_...`, which dbt masks in everything it logs.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from dalgo.blocks.warehouse import WarehouseBlock

TARGET_NAME = "dalgo"
SECRET_KEYS = frozenset(
    {"password", "private_key", "private_key_id", "token", "refresh_token", "client_secret", "keyfile_json"}
)
LITERAL_PATHS = frozenset({("type",), ("method",)})
"""Values the platform itself chooses (the adapter and its sign-in method), written as they are."""
SECRET_PREFIX = "DBT_ENV_SECRET_DALGO_"  # noqa: S105 - a variable name prefix
PLAIN_PREFIX = "DALGO_DBT_"
_NOT_NAME = re.compile(r"[^A-Z0-9]+")


class ProjectError(ValueError):
    """The dbt project cannot be used; the message says why, for people."""


def profile_name(project_dir: Path) -> str:
    """The profile the project's dbt_project.yml asks for."""
    project_file = project_dir / "dbt_project.yml"
    if not project_file.is_file():
        raise ProjectError("The project folder has no dbt_project.yml: check the workspace's project_dir.")
    try:
        project = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProjectError(f"dbt_project.yml cannot be read: {exc}") from None
    name = project.get("profile") if isinstance(project, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise ProjectError("dbt_project.yml names no profile (its `profile:` key).")
    return name


def _templated(value: Any, path: tuple[str, ...], secret_values: set[str], env: dict[str, str]) -> Any:
    """`value` with each text replaced by an env_var() call, recording the variables to set."""
    if isinstance(value, Mapping):
        return {
            str(key): _templated(item, (*path, str(key)), secret_values, env) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_templated(item, (*path, str(index)), secret_values, env) for index, item in enumerate(value)]
    if not isinstance(value, str) or path in LITERAL_PATHS:
        return value
    secret = path[-1] in SECRET_KEYS or value in secret_values
    name = (SECRET_PREFIX if secret else PLAIN_PREFIX) + _NOT_NAME.sub("_", "_".join(path).upper()).strip("_")
    env[name] = value
    return f"{{{{ env_var('{name}') | as_text }}}}"


def render_target(warehouse: WarehouseBlock, schema: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The dbt output for the warehouse, building into `schema`, with every text value replaced by
    an env_var() call; and the environment variables those calls read."""
    target = warehouse.dbt_target(schema)
    env: dict[str, str] = {}
    secret_values = set(warehouse.backend().secret_values())
    templated = _templated(target, (), secret_values, env)
    assert isinstance(templated, dict)
    return templated, env


@contextmanager
def private_profiles_dir(profile: str, warehouse: WarehouseBlock | None, schema: str) -> Iterator[Path]:
    """A private folder holding a profiles.yml with one target (`dalgo`) for the profile, and the
    variables it reads set in this process; both are removed when the block ends. Without a
    warehouse the file is empty (enough for `deps` and `clean`)."""
    target, env = render_target(warehouse, schema) if warehouse else ({}, {})
    folder = Path(tempfile.mkdtemp(prefix="dalgo-dbt-profiles-"))
    previous = {name: os.environ.get(name) for name in env}
    try:
        folder.chmod(0o700)
        profiles = folder / "profiles.yml"
        profiles.touch(mode=0o600)
        profiles.write_text(
            yaml.safe_dump(
                {profile: {"target": TARGET_NAME, "outputs": {TARGET_NAME: target}}} if target else {}
            ),
            encoding="utf-8",
        )
        os.environ.update(env)
        yield folder
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)
