"""The parts of the dbt workspace's flow that need no worker: commands and their options, the
private profiles.yml, the git checkout against local repositories, and how outcomes are judged."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.flows import dbt_folders, dbt_options, dbt_steps, git, transform
from dalgo.flows.dbt_events import DbtEventReader, NodeTaskRuns, node_label, parse_results
from dalgo.flows.dbt_profiles import ProjectError, check_local_packages, private_profiles_dir, profile_name
from dalgo.flows.dbt_runner import DbtInvocation, summarise
from dalgo.sandbox import base_environment
from dalgo.settings import Settings
from tests.secrets_registry import register_secret
from tests.support.dbt import FAKE_TOKEN, Repo


def test_the_interface_pipelines_rely_on() -> None:
    workspace = DbtWorkspaceBlock(git_url="file:///srv/repo.git", target_schema="analytics")
    assert dbt_steps.needs_git_pull(workspace)
    assert transform.dbt_operation.name == "dbt-operation"


def test_commands_and_their_options() -> None:
    assert dbt_options.dbt_args("build", "tag:daily +orders", "stg_x", True) == [
        "build",
        "--select",
        "tag:daily",
        "+orders",
        "--exclude",
        "stg_x",
        "--full-refresh",
    ]
    assert dbt_options.dbt_args("docs-generate", None, None, False) == ["docs", "generate", "--static"]
    assert dbt_options.operation_problem("run", "path:models/staging,tag:x", None, True) is None
    assert "Unknown command" in str(dbt_options.operation_problem("drop", None, None, False))
    assert "select applies only" in str(dbt_options.operation_problem("git-pull", "x", None, False))
    assert "full_refresh applies only" in str(dbt_options.operation_problem("test", None, None, True))
    for bad in ("--profiles-dir /tmp", "x --target-path /", "a'b", "", "x" * 1001):
        assert dbt_options.operation_problem("run", bad, None, False) is not None, bad


def _warehouse(password: str) -> WarehouseBlock:
    return WarehouseBlock(
        type="postgres",
        host="db.example.org",
        database="{{ prefect.blocks.secret.other }}",
        user="dalgo",
        password=password,
    )


def test_the_profile_is_private_holds_no_value_and_is_removed_after(tmp_path: Path) -> None:
    password = register_secret("pw-{{ env_var('HOME') }}-secret")
    before = dict(os.environ)
    with private_profiles_dir("my_profile", _warehouse(password), "analytics", tmp_path / "dbt") as (
        folder,
        env,
    ):
        profiles = folder / "profiles.yml"
        assert folder.parent == tmp_path / "dbt"
        assert folder.stat().st_mode & 0o777 == 0o700 and profiles.stat().st_mode & 0o777 == 0o600
        text = profiles.read_text()
        assert password not in text and "db.example.org" not in text and "prefect.blocks" not in text
        output = yaml.safe_load(text)["my_profile"]
        assert output["target"] == "dalgo"
        target = output["outputs"]["dalgo"]
        assert target["type"] == "postgres" and target["port"] == 5432
        assert target["password"] == "{{ env_var('DBT_ENV_SECRET_DALGO_PASSWORD') | as_text }}"
        assert env["DBT_ENV_SECRET_DALGO_PASSWORD"] == password
        assert env["DBT_DALGO_SCHEMA"] == "analytics" and env["DBT_DALGO_HOST"] == "db.example.org"
        assert not [name for name in env if name.startswith(("DALGO_", "PREFECT_"))]
        assert dict(os.environ) == before, "the variables are for the dbt process only"
    assert not folder.exists()
    with private_profiles_dir("my_profile", None, "analytics", tmp_path) as (folder, env):
        assert yaml.safe_load((folder / "profiles.yml").read_text()) == {} and env == {}


def test_the_profile_name_comes_from_the_project(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no dbt_project\.yml"):
        profile_name(tmp_path)
    (tmp_path / "dbt_project.yml").symlink_to("/etc/passwd")
    with pytest.raises(ProjectError, match="not a link"):
        profile_name(tmp_path)
    (tmp_path / "dbt_project.yml").unlink()
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
    assert not git.is_checked_out(checkout, workspace, tmp_path)
    pulled = git.pull(checkout, workspace, lines.append, tmp_path)
    assert (checkout / "transform" / "dbt_project.yml").is_file()
    assert git.is_checked_out(checkout, workspace, tmp_path)
    assert lines == [
        f"Fetching branch main of {repo.url}",
        f"Checked out {pulled.commit[:12]} (The test project)",
    ]

    (checkout / "transform" / "dbt_packages").mkdir()
    second = repo.apply("second_commit", "Second")
    (repo.work / "transform" / "tests" / "assert_totals_are_positive.sql").unlink()
    third = repo.commit("Drop a test", "main")
    again = git.pull(checkout, workspace, lines.append, tmp_path)
    assert again.commit == third != second and again.subject == "Drop a test"
    assert (checkout / "transform" / "models" / "marts" / "country_totals.sql").is_file()
    assert not (checkout / "transform" / "tests" / "assert_totals_are_positive.sql").exists()
    assert (checkout / "transform" / "dbt_packages").is_dir(), "untracked files stay"

    other_branch = workspace.model_copy(update={"branch": "dev"})
    assert not git.is_checked_out(checkout, other_branch, tmp_path)
    with pytest.raises(git.GitError, match=r"^The branch 'dev' does not exist in the repository file://"):
        git.pull(checkout, other_branch, lines.append, tmp_path)
    missing = DbtWorkspaceBlock(git_url=(tmp_path / "none.git").as_uri(), target_schema="s")
    with pytest.raises(git.GitError, match="does not appear to be a git repository"):
        git.pull(tmp_path / "elsewhere", missing, lines.append, tmp_path)


def test_the_token_reaches_git_only_through_a_credential_helper(tmp_path: Path) -> None:
    url = "https://127.0.0.1:9/org/repo.git"
    options = git._credential_options(url, FAKE_TOKEN)
    assert options and FAKE_TOKEN not in " ".join(options)
    asked = subprocess.run(
        ["git", *git._ISOLATION, *options, "credential", "fill"],
        input="protocol=https\nhost=127.0.0.1:9\n\n",
        env={**base_environment(), **git._environment(FAKE_TOKEN)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"username={git.TOKEN_USERNAME}\npassword={FAKE_TOKEN}\n" in asked.stdout
    assert git._credential_options("file:///srv/x.git", FAKE_TOKEN) == []
    workspace = DbtWorkspaceBlock(git_url=url, git_token=FAKE_TOKEN, target_schema="s")
    with pytest.raises(git.GitError) as failed:
        git.pull(tmp_path / "checkout", workspace, lambda line: None, tmp_path)
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


def test_git_runs_sandboxed_with_none_of_the_platforms_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DALGO_PROBE_SECRET", "platform-only")
    repo = Repo(tmp_path / "remote")
    env = git._environment(FAKE_TOKEN)
    assert env[git.TOKEN_VARIABLE] == FAKE_TOKEN and not [
        n for n in env if n.startswith(("DALGO_", "PREFECT_"))
    ]
    checkout = tmp_path / "org" / "dbt" / "repo"
    git.pull(
        checkout, DbtWorkspaceBlock(git_url=repo.url, target_schema="s"), lambda line: None, tmp_path / "org"
    )
    printed = git._git(["-c", "alias.env=!env", "env"], checkout, tmp_path / "org")
    assert "DALGO_PROBE_SECRET" not in printed and "platform-only" not in printed
    assert "PREFECT_" not in printed and f"HOME={base_environment()['HOME']}" in printed


def test_local_packages_must_stay_inside_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    project = repo / "transform"
    (project / "utils").mkdir(parents=True)
    (tmp_path / "other-org").mkdir()
    packages = project / "packages.yml"
    packages.write_text("packages:\n  - local: utils\n  - package: dbt-labs/dbt_utils\n    version: 1.0.0\n")
    check_local_packages(project, repo)
    (project / "dependencies.yml").write_text("packages:\n  - local: ../../other-org\n")
    with pytest.raises(ProjectError, match=r"'local: ../../other-org' in dependencies.yml lies outside"):
        check_local_packages(project, repo)
    (project / "dependencies.yml").unlink()
    (project / "linked").symlink_to(tmp_path / "other-org", target_is_directory=True)
    for local in ("linked", "/etc", "{{ env_var('X') }}"):
        packages.write_text(f'packages:\n  - local: "{local}"\n')
        with pytest.raises(ProjectError, match="lies outside the repository"):
            check_local_packages(project, repo)


def test_the_dbt_process_gets_only_its_own_variables(tmp_path: Path) -> None:
    invocation = DbtInvocation(
        tmp_path,
        tmp_path / "dbt" / "repo",
        tmp_path / "p",
        tmp_path / "t",
        tmp_path / "l",
        {"DBT_DALGO_X": "1"},
    )
    command = invocation.command(["run"], Settings(home=tmp_path, sandbox="off"))
    assert command.argv[-2].endswith("/bin/dbt") and command.argv[-1] == "run"
    assert command.env["DBT_DALGO_X"] == "1" and command.env["DBT_LOG_FORMAT"] == "json"
    assert command.env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert not [name for name in command.env if name.startswith(("DALGO_", "PREFECT_"))]
    sandboxed = invocation.command(["run"], Settings(home=tmp_path, sandbox="bwrap"))
    assert sandboxed.argv[0].endswith("bwrap") and "--die-with-parent" in sandboxed.argv


def test_dbt_json_lines_become_log_lines_and_node_names() -> None:
    logged: list[tuple[int, str]] = []
    reader = DbtEventReader(lambda level, line: logged.append((level, line)), ["s3cret"], NodeTaskRuns())
    node = {"unique_id": "model.p.donor_totals", "node_name": "donor_totals", "resource_type": "model"}
    reader.line('{"info": {"name": "MainReportVersion", "level": "info", "msg": "Running with dbt"}}\n')
    reader.line('{"info": {"name": "X", "level": "debug", "msg": "quiet"}, "data": {}}')
    reader.line('{"info": {"name": "Formatting", "level": "info", "msg": ""}, "data": {}}')
    started = {
        "info": {"level": "info", "msg": "1 of 1 START"},
        "data": {"node_info": {**node, "node_status": "started"}},
    }
    reader.line(json.dumps(started))
    failed = {
        "info": {"level": "error", "msg": "s3cret broke"},
        "data": {"node_info": {**node, "node_status": "error"}},
    }
    reader.line(json.dumps(failed))
    reader.line("a print() of a python model s3cret")
    assert logged == [
        (logging.INFO, "Running with dbt"),
        (logging.INFO, "1 of 1 START"),
        (logging.ERROR, "******** broke"),
        (logging.INFO, "a print() of a python model ********"),
    ]
    assert reader.errors == ["******** broke"]
    assert node_label("model.p.donor_totals", reader.names) == ("model", "donor_totals")
    assert node_label("test.p.unique_x.8df5b0ba95", {}) == ("test", "unique_x")
    assert parse_results('{"results": [{"unique_id": "a"}, 3]}') == [{"unique_id": "a"}]
    assert parse_results("not json") == [] and parse_results('{"results": 1}') == []


def test_the_platform_follows_no_link_left_in_the_workspace_folder(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    folders = dbt_folders.workspace_folders("north", settings)
    folders.confine()
    assert folders.target.is_dir() and folders.served_docs() is None
    folders.docs.write_text("<html></html>")
    assert folders.served_docs() == folders.docs.resolve()
    folders.docs.unlink()
    folders.docs.symlink_to("/etc/passwd")
    assert folders.served_docs() is None
    folders.docs.unlink()
    folders.target.rmdir()
    folders.target.symlink_to(settings.org_home("south"), target_is_directory=True)
    with pytest.raises(ProjectError, match="not a plain folder"):
        folders.confine()
