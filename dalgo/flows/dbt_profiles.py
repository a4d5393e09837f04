"""The `profiles.yml` a dbt command runs with, rendered from the org's warehouse block.

It lives in a private folder (mode 0700, the file 0600) inside the org's dbt folder, which the
sandboxed dbt process can see, for exactly as long as the command runs. No value of the warehouse
is written into it: each text value is read by dbt from an environment variable given to that one
dbt process (`{{ env_var(...) }}`), so neither Prefect's templating nor dbt's Jinja ever interprets
text a tenant chose, and the secrets go through variables named `DBT_ENV_SECRET_...`, which dbt
masks in everything it logs. The variables are never set in the platform's own environment.
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
PLAIN_PREFIX = "DBT_DALGO_"
"""Non-secret values' prefix: nothing a dbt process sees is named `DALGO_*`."""
_NOT_NAME = re.compile(r"[^A-Z0-9]+")


class ProjectError(ValueError):
    """The dbt project cannot be used; the message says why, for people."""


def read_project_file(path: Path) -> str | None:
    """A file of the tenant's project, read without following a symbolic link (a link committed to
    the repository could lead to the platform's own files); None when it does not exist."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        raise ProjectError(f"{path.name} cannot be read: it must be a plain file, not a link.") from None
    with os.fdopen(descriptor, encoding="utf-8", errors="replace") as file:
        return file.read()


def profile_name(project_dir: Path) -> str:
    """The profile the project's dbt_project.yml asks for."""
    text = read_project_file(project_dir / "dbt_project.yml")
    if text is None:
        raise ProjectError("The project folder has no dbt_project.yml: check the workspace's project_dir.")
    try:
        project = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProjectError(f"dbt_project.yml cannot be read: {exc}") from None
    name = project.get("profile") if isinstance(project, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise ProjectError("dbt_project.yml names no profile (its `profile:` key).")
    return name


PACKAGE_FILES = ("packages.yml", "dependencies.yml")


def _local_packages(project_dir: Path) -> Iterator[tuple[str, Any]]:
    for name in PACKAGE_FILES:
        text = read_project_file(project_dir / name)
        if text is None:
            continue
        try:
            listed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ProjectError(f"{name} cannot be read: {exc}") from None
        packages = listed.get("packages") if isinstance(listed, dict) else None
        for package in packages if isinstance(packages, list) else []:
            if isinstance(package, dict) and "local" in package:
                yield name, package["local"]


def listed_packages(project_dir: Path) -> int:
    """How many packages packages.yml and dependencies.yml list (ProjectError when one cannot be read)."""
    count = 0
    for name in PACKAGE_FILES:
        text = read_project_file(project_dir / name)
        try:
            listed = yaml.safe_load(text) if text is not None else None
        except yaml.YAMLError as exc:
            raise ProjectError(f"{name} cannot be read: {exc}") from None
        packages = listed.get("packages") if isinstance(listed, dict) else None
        count += len(packages) if isinstance(packages, list) else 0
    return count


def check_local_packages(project_dir: Path, repo_dir: Path) -> None:
    """ProjectError when a `local:` package of packages.yml or dependencies.yml lies outside the
    repository's checkout (after following symlinks), or is not a plain path."""
    repo = repo_dir.resolve()
    for name, local in _local_packages(project_dir):
        plain = isinstance(local, str) and local.strip() and "{" not in local and "%" not in local
        if not plain or not (project_dir / str(local)).resolve().is_relative_to(repo):
            raise ProjectError(
                f"The dbt package 'local: {local}' in {name} lies outside the repository: "
                "a local package must be a folder inside the workspace's repository."
            )


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
def private_profiles_dir(
    profile: str, warehouse: WarehouseBlock | None, schema: str, parent: Path
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A private folder inside `parent` holding a profiles.yml with one target (`dalgo`) for the
    profile, and the environment variables it reads (to give to the dbt process, never set here);
    the folder is removed when the block ends. Without a warehouse the file is empty (enough for
    `deps` and `clean`)."""
    target, env = render_target(warehouse, schema) if warehouse else ({}, {})
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".profiles-", dir=parent))
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
        yield folder, env
    finally:
        shutil.rmtree(folder, ignore_errors=True)
