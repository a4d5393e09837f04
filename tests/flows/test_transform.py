"""The parts of the dbt workspace's flow that need no worker: commands and their options, the
private profiles.yml, the git checkout against local repositories, and how outcomes are judged."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.deployments.runs import COMPLETED_WITH_WARNINGS
from dalgo.flows import git, transform
from dalgo.flows.dbt_profiles import ProjectError, private_profiles_dir, profile_name
from dalgo.flows.dbt_runner import summarise
from dalgo.settings import Settings
from tests.api.test_dbt import FAKE_TOKEN, Repo


def test_the_interface_pipelines_rely_on() -> None:
    assert transform.dbt_workspace_lock("north") == "lock:north:dbt-workspace"
    assert transform.workspace_block_name("north") == "north--dbt-workspace"
    assert transform.COMPLETED_WITH_WARNINGS == COMPLETED_WITH_WARNINGS
    workspace = DbtWorkspaceBlock(git_url="file:///srv/repo.git", target_schema="analytics")
    assert transform.needs_git_pull(workspace)
    assert transform.dbt_operation.name == "dbt-operation"


def test_commands_and_their_options() -> None:
    assert transform.dbt_args("build", "tag:daily +orders", "stg_x", True) == [
        "build",
        "--select",
        "tag:daily",
        "+orders",
        "--exclude",
        "stg_x",
        "--full-refresh",
    ]
    assert transform.dbt_args("docs-generate", None, None, False) == ["docs", "generate", "--static"]
    assert transform.operation_problem("run", "path:models/staging,tag:x", None, True) is None
    assert "Unknown command" in str(transform.operation_problem("drop", None, None, False))
    assert "select applies only" in str(transform.operation_problem("git-pull", "x", None, False))
    assert "full_refresh applies only" in str(transform.operation_problem("test", None, None, True))
    for bad in ("--profiles-dir /tmp", "x --target-path /", "a'b", "", "x" * 1001):
        assert transform.operation_problem("run", bad, None, False) is not None, bad


def _warehouse(password: str) -> WarehouseBlock:
    return WarehouseBlock(
        type="postgres",
        host="db.example.org",
        database="{{ prefect.blocks.secret.other }}",
        user="dalgo",
        password=password,
    )


def test_the_profile_is_private_holds_no_value_and_is_removed_after() -> None:
    password = "pw-{{ env_var('HOME') }}-secret"
    before = dict(os.environ)
    with private_profiles_dir("my_profile", _warehouse(password), "analytics") as folder:
        profiles = folder / "profiles.yml"
        assert folder.stat().st_mode & 0o777 == 0o700 and profiles.stat().st_mode & 0o777 == 0o600
        text = profiles.read_text()
        assert password not in text and "db.example.org" not in text and "prefect.blocks" not in text
        output = yaml.safe_load(text)["my_profile"]
        assert output["target"] == "dalgo"
        target = output["outputs"]["dalgo"]
        assert target["type"] == "postgres" and target["port"] == 5432
        assert target["password"] == "{{ env_var('DBT_ENV_SECRET_DALGO_PASSWORD') | as_text }}"
        assert os.environ["DBT_ENV_SECRET_DALGO_PASSWORD"] == password
        assert os.environ["DALGO_DBT_SCHEMA"] == "analytics"
    assert not folder.exists()
    assert dict(os.environ) == before
    with private_profiles_dir("my_profile", None, "analytics") as folder:
        assert yaml.safe_load((folder / "profiles.yml").read_text()) == {}


def test_the_profile_name_comes_from_the_project(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no dbt_project\.yml"):
        profile_name(tmp_path)
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    with pytest.raises(ProjectError, match="names no profile"):
        profile_name(tmp_path)
    (tmp_path / "dbt_project.yml").write_text("name: x\nprofile: ngo_data\n")
    assert profile_name(tmp_path) == "ngo_data"


def test_outcomes_follow_the_worst_node() -> None:
    def node(name: str, kind: str, status: str) -> dict[str, object]:
        return {"name": name, "type": kind, "status": status, "message": f"{name} said {status}"}

    passed = summarise("build", [node("a", "model", "success"), node("t", "test", "pass")], True, [])
    assert passed.outcome == "success" and passed.message == "dbt build succeeded: 1 model, 1 test."
    warned = summarise("test", [node("t", "test", "fail"), node("u", "test", "pass")], False, [])
    assert (
        warned.outcome == "warnings"
        and "test t" in warned.message
        and warned.counts == {"fail": 1, "pass": 1}
    )
    failed = summarise("run", [node("m", "model", "error"), node("t", "test", "fail")], False, ["said"])
    assert failed.outcome == "failed" and failed.message == "dbt run failed in model m: m ******** error"
    assert summarise("deps", [], False, []).outcome == "failed"


def test_pulling_a_local_repository(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "remote")
    checkout = tmp_path / "checkout"
    lines: list[str] = []
    workspace = DbtWorkspaceBlock(git_url=repo.url, branch="main", target_schema="s", project_dir="transform")
    assert not git.is_checked_out(checkout, workspace)
    pulled = git.pull(checkout, workspace, lines.append)
    assert (checkout / "transform" / "dbt_project.yml").is_file() and git.is_checked_out(checkout, workspace)
    assert lines == [
        f"Fetching branch main of {repo.url}",
        f"Checked out {pulled.commit[:12]} (The test project)",
    ]

    (checkout / "transform" / "dbt_packages").mkdir()
    second = repo.apply("second_commit", "Second")
    (repo.work / "transform" / "tests" / "assert_totals_are_positive.sql").unlink()
    third = repo.commit("Drop a test", "main")
    again = git.pull(checkout, workspace, lines.append)
    assert again.commit == third != second and again.subject == "Drop a test"
    assert (checkout / "transform" / "models" / "marts" / "country_totals.sql").is_file()
    assert not (checkout / "transform" / "tests" / "assert_totals_are_positive.sql").exists()
    assert (checkout / "transform" / "dbt_packages").is_dir(), "untracked files stay"

    other_branch = workspace.model_copy(update={"branch": "dev"})
    assert not git.is_checked_out(checkout, other_branch)
    with pytest.raises(git.GitError, match=r"^The branch 'dev' does not exist in the repository file://"):
        git.pull(checkout, other_branch, lines.append)
    missing = DbtWorkspaceBlock(git_url=(tmp_path / "none.git").as_uri(), target_schema="s")
    with pytest.raises(git.GitError, match="does not appear to be a git repository"):
        git.pull(tmp_path / "elsewhere", missing, lines.append)


def test_the_token_reaches_git_only_through_a_credential_helper(tmp_path: Path) -> None:
    url = "https://127.0.0.1:9/org/repo.git"
    options = git._credential_options(url, FAKE_TOKEN)
    assert options and FAKE_TOKEN not in " ".join(options)
    asked = subprocess.run(
        ["git", *git._ISOLATION, *options, "credential", "fill"],
        input="protocol=https\nhost=127.0.0.1:9\n\n",
        env=git._environment(FAKE_TOKEN),
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"username={git.TOKEN_USERNAME}\npassword={FAKE_TOKEN}\n" in asked.stdout
    assert git._credential_options("file:///srv/x.git", FAKE_TOKEN) == []
    workspace = DbtWorkspaceBlock(git_url=url, git_token=FAKE_TOKEN, target_schema="s")
    with pytest.raises(git.GitError) as failed:
        git.pull(tmp_path / "checkout", workspace, lambda line: None)
    assert FAKE_TOKEN not in str(failed.value) and "Couldn't connect" in str(failed.value)
    assert FAKE_TOKEN not in (tmp_path / "checkout" / ".git" / "config").read_text()


def test_local_repositories_stay_out_of_the_platforms_folder(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    assert git.local_repository_problem("file:///srv/repos/x.git", "north", settings) is None
    assert git.local_repository_problem("https://github.com/x.git", "north", settings) is None
    own = settings.org_home("north") / "repos" / "x.git"
    assert git.local_repository_problem(own.as_uri(), "north", settings) is None
    assert "own folder" in str(git.local_repository_problem(own.as_uri(), "north-east", settings))
    checkout = settings.org_home("north") / "dbt" / "repo"
    assert "workspace's own folder" in str(git.local_repository_problem(checkout.as_uri(), "north", settings))
    (tmp_path / "link").symlink_to(settings.org_home("south"), target_is_directory=True)
    assert git.local_repository_problem((tmp_path / "link").as_uri(), "north", settings) is not None
