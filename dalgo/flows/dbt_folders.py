"""The folders of an org's dbt workspace on a worker.

They live in a stable folder per org (`DALGO_HOME/orgs/<slug>/dbt/`): `repo/` the checkout,
`target/` dbt's target folder, so partial parsing stays warm between runs, `logs/`. Tenant code
writes in the org's folder, so the platform checks that no link it left there is followed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.flows.dbt_profiles import ProjectError
from dalgo.settings import Settings, get_settings

DOCS_FILE = "static_index.html"
DEPS_RECORD = "deps-installed.json"
"""The file in the workspace's folder that says what the last successful `dbt deps` installed."""


@dataclass(frozen=True)
class WorkspaceFolders:
    """The org's dbt folders on this worker."""

    root: Path

    @property
    def org_dir(self) -> Path:
        """The org's own folder: the only place a sandboxed git or dbt process may write."""
        return self.root.parent

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def target(self) -> Path:
        return self.root / "target"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def deps_record(self) -> Path:
        return self.root / DEPS_RECORD

    @property
    def docs(self) -> Path:
        """The generated documentation, one self-contained page."""
        return self.target / DOCS_FILE

    def _unlinked(self, path: Path) -> bool:
        """Whether no part of `path` below the org's folder is a symbolic link. Tenant code may
        write in the org's folder; the platform, outside the sandbox, must not follow a link it left
        there (to another org's folder, or a file of the platform)."""
        return path.resolve() == self.org_dir.resolve() / path.relative_to(self.org_dir)

    def confine(self) -> None:
        """Make the workspace's folders; ProjectError when one of them is a symbolic link."""
        for folder in (self.root, self.repo, self.target, self.logs):
            with contextlib.suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
            if not folder.is_dir() or not self._unlinked(folder):
                raise ProjectError(
                    f"The workspace's folder {folder.name}/ is not a plain folder (a symbolic link?): "
                    "remove the workspace and save it again."
                )

    def served_docs(self) -> Path | None:
        """The generated documentation's file, resolved, when it exists and no link leads to it."""
        docs = self.docs
        return docs.resolve() if docs.is_file() and self._unlinked(docs) else None

    def project(self, workspace: DbtWorkspaceBlock) -> Path:
        """The dbt project's folder inside the checkout; ProjectError when it leads outside it."""
        project = (self.repo / workspace.project_dir).resolve()
        if not project.is_relative_to(self.repo.resolve()):
            raise ProjectError("The project_dir leads outside the repository.")
        return project


def workspace_folders(org: str, settings: Settings | None = None) -> WorkspaceFolders:
    """Where the org's dbt workspace keeps its files."""
    return WorkspaceFolders((settings or get_settings()).org_home(org) / "dbt")
