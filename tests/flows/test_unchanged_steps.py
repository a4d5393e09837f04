"""When a pipeline's `git-pull` and `deps` would change nothing: the checkout against a real local
repository (git in the sandbox, `git ls-remote` for the branch's tip) and the record of the last
successful `dbt deps`. The pipeline's use of them, through a worker, is in test_pipeline.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.flows import dbt_deps, dbt_folders, git
from dalgo.settings import Settings
from tests.support.dbt import Repo

PACKAGES_YML = "packages:\n  - local: dalgo_utils\n"


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Repo, DbtWorkspaceBlock, dbt_folders.WorkspaceFolders]:
    """A repository with the test project in `transform/`, and an org's (empty) workspace of it."""
    repo = Repo(tmp_path / "remote")
    workspace = DbtWorkspaceBlock(git_url=repo.url, branch="main", target_schema="s", project_dir="transform")
    folders = dbt_folders.workspace_folders("north", Settings(home=tmp_path / "home"))
    folders.confine()
    return repo, workspace, folders


def test_a_checkout_is_unchanged_only_while_it_holds_the_branchs_tip_as_committed(
    checkout: tuple[Repo, DbtWorkspaceBlock, dbt_folders.WorkspaceFolders],
) -> None:
    repo, workspace, folders = checkout

    def unchanged() -> str | None:
        return git.unchanged_checkout(folders.repo, workspace, folders.org_dir)

    assert unchanged() is None, "no checkout yet"
    first = git.pull(folders.repo, workspace, lambda _: None, folders.org_dir)
    assert unchanged() == first.commit
    (folders.repo / "transform" / "dbt_packages").mkdir()
    assert unchanged() == first.commit, "untracked files (installed packages) change nothing"

    second = repo.write("models/marts/extra.sql", "select 1 as one\n", "Add a model", "main")
    assert unchanged() is None, "the branch moved on"
    assert git.pull(folders.repo, workspace, lambda _: None, folders.org_dir).commit == second
    assert unchanged() == second

    (folders.repo / "transform" / "dbt_project.yml").write_text("name: edited\n")
    assert unchanged() is None, "a tracked file was changed in the checkout"
    git.pull(folders.repo, workspace, lambda _: None, folders.org_dir)
    assert unchanged() == second

    other = workspace.model_copy(update={"branch": "dev"})
    assert git.unchanged_checkout(folders.repo, other, folders.org_dir) is None, "another branch"
    gone = workspace.model_copy(update={"git_url": (folders.org_dir / "gone.git").as_uri()})
    assert git.unchanged_checkout(folders.repo, gone, folders.org_dir) is None, "another repository"


def test_deps_are_unchanged_while_the_packages_files_and_the_installed_packages_stay(
    checkout: tuple[Repo, DbtWorkspaceBlock, dbt_folders.WorkspaceFolders],
) -> None:
    repo, workspace, folders = checkout
    git.pull(folders.repo, workspace, lambda _: None, folders.org_dir)
    project = folders.project(workspace)
    assert (project / "packages.yml").read_text() == PACKAGES_YML
    assert not dbt_deps.deps_unchanged(folders, workspace), "deps never ran here"

    installed = project / "dbt_packages" / "dalgo_utils"
    installed.mkdir(parents=True)
    dbt_deps.record_deps(folders, project)
    assert dbt_deps.deps_unchanged(folders, workspace)

    repo.write("models/marts/extra.sql", "select 1 as one\n", "Add a model", "main")
    git.pull(folders.repo, workspace, lambda _: None, folders.org_dir)
    assert dbt_deps.deps_unchanged(folders, workspace), "a commit that leaves packages.yml alone"

    installed.rmdir()
    assert not dbt_deps.deps_unchanged(folders, workspace), "dbt clean removed the packages"
    installed.mkdir()
    assert dbt_deps.deps_unchanged(folders, workspace)

    repo.write("packages.yml", PACKAGES_YML + "# pinned again\n", "Touch the packages", "main")
    git.pull(folders.repo, workspace, lambda _: None, folders.org_dir)
    assert not dbt_deps.deps_unchanged(folders, workspace), "packages.yml changed"
    dbt_deps.record_deps(folders, project)
    assert dbt_deps.deps_unchanged(folders, workspace)

    folders.deps_record.write_text("not json")
    assert not dbt_deps.deps_unchanged(folders, workspace)


def test_the_deps_record_replaces_a_link_left_at_its_name(
    checkout: tuple[Repo, DbtWorkspaceBlock, dbt_folders.WorkspaceFolders], tmp_path: Path
) -> None:
    """Tenant code may write in the org's folder: a link it leaves where the record goes is
    replaced by the record, never written through, and a record read through a link counts as none."""
    _, workspace, folders = checkout
    git.pull(folders.repo, workspace, lambda _: None, folders.org_dir)
    project = folders.project(workspace)
    (project / "dbt_packages" / "dalgo_utils").mkdir(parents=True)
    outside = tmp_path / "platform-file"
    outside.write_text("the platform's own")
    folders.deps_record.symlink_to(outside)
    dbt_deps.record_deps(folders, project)
    assert outside.read_text() == "the platform's own"
    assert not folders.deps_record.is_symlink() and dbt_deps.deps_unchanged(folders, workspace)

    kept = folders.deps_record.read_text()
    folders.deps_record.unlink()
    outside.write_text(kept)
    folders.deps_record.symlink_to(outside)
    assert not dbt_deps.deps_unchanged(folders, workspace)
