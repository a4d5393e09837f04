"""The record of what the last successful `dbt deps` of a workspace installed from (its
packages.yml and dependencies.yml), kept in the workspace's folder, and whether a `dbt deps` now
would change nothing."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.flows.dbt_folders import WorkspaceFolders
from dalgo.flows.dbt_profiles import PACKAGE_FILES, listed_packages, read_project_file

DEFAULT_INSTALL_PATH = "dbt_packages"


def packages_fingerprint(project: Path) -> str:
    """A digest of the project's packages.yml and dependencies.yml (what `dbt deps` installs from)."""
    digest = hashlib.sha256()
    for name in PACKAGE_FILES:
        text = read_project_file(project / name)
        digest.update(f"{name}\0{'-' if text is None else text}\0".encode())
    return digest.hexdigest()


def _deps_state(folders: WorkspaceFolders, project: Path) -> dict[str, str]:
    where = str(project.relative_to(folders.repo.resolve()))
    return {"project": where, "packages": packages_fingerprint(project)}


def record_deps(folders: WorkspaceFolders, project: Path) -> None:
    """Remember what a successful `dbt deps` installed from. The file is written anew and renamed
    into place, so a link left at its name is replaced, never followed."""
    descriptor, temporary = tempfile.mkstemp(prefix=".deps-", dir=folders.root)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(_deps_state(folders, project), file)
    Path(temporary).replace(folders.deps_record)


def _packages_installed(folders: WorkspaceFolders, project: Path) -> bool:
    """Whether the packages the project lists are in its install folder (dbt clean may remove it)."""
    if not listed_packages(project):
        return True
    text = read_project_file(project / "dbt_project.yml") or ""
    try:
        settings = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    place = settings.get("packages-install-path") if isinstance(settings, dict) else None
    place = DEFAULT_INSTALL_PATH if place is None else place
    if not isinstance(place, str) or "{" in place:
        return False
    folder = project / place
    if folder.is_symlink() or not folder.is_dir():
        return False
    return folder.resolve().is_relative_to(folders.org_dir.resolve()) and any(folder.iterdir())


def deps_unchanged(folders: WorkspaceFolders, workspace: DbtWorkspaceBlock) -> bool:
    """Whether `dbt deps` would change nothing: the last successful one on this worker installed
    from the same packages.yml and dependencies.yml, and the packages are still installed."""
    project = folders.project(workspace)
    try:
        text = read_project_file(folders.deps_record)
        recorded = json.loads(text) if text else None
    except ValueError:  # a link at the record's name (ProjectError) or not JSON
        return False
    return recorded == _deps_state(folders, project) and _packages_installed(folders, project)
