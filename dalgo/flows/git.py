"""The dbt workspace's checkout of its git repository, made and updated with the `git` command.

The token never reaches git's command line, its configuration or the remote URL: a credential
helper given on the command line reads it from the environment of that one git process. Every
message that leaves this module has the token masked. git runs without the machine's system and
global configuration, and may speak only https and file.

Every git command runs in the org's sandbox (`dalgo.sandbox`): the system read-only, the org's
folder read-write, a `file://` repository read-only, and an environment of only
`base_environment()` plus git's own isolation settings (and the token, for a fetch).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from dalgo.blocks.dbt_workspace import DbtWorkspaceBlock
from dalgo.blocks.warehouses.base import scrub
from dalgo.sandbox import sandbox_for
from dalgo.settings import Settings

GIT_TIMEOUT_S = 600.0
TOKEN_USERNAME = "x-access-token"  # noqa: S105 - a user name, not a secret
TOKEN_VARIABLE = "WORKSPACE_GIT_TOKEN"  # noqa: S105 - the name of a variable
_HELPER = '!f() { test "$1" = get || return 0; %s echo "password=${' + TOKEN_VARIABLE + '}"; }; f'
_ISOLATION = [
    "-c",
    "protocol.allow=never",
    "-c",
    "protocol.https.allow=always",
    "-c",
    "protocol.file.allow=always",
    "-c",
    "credential.helper=",
    "-c",
    "core.askPass=",
    "-c",
    "init.defaultBranch=dalgo",
    "-c",
    "advice.detachedHead=false",
]


class GitError(RuntimeError):
    """A git operation failed; the message is meant for people and holds no secret."""


@dataclass(frozen=True)
class Checkout:
    """What the workspace's folder holds after a pull."""

    url: str
    branch: str | None
    commit: str
    subject: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _GitCommandError(Exception):
    def __init__(self, stderr: str) -> None:
        super().__init__(stderr)
        self.stderr = stderr


def local_repository_problem(url: str, org: str, settings: Settings) -> str | None:
    """Why a `file://` repository may not be used by the org, or None.

    A local repository may not lie inside the platform's own folder (where other orgs' checkouts
    and warehouses live), except in the org's own folder outside its dbt workspace.
    """
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    path = Path(unquote(parts.path)).resolve()
    home = settings.resolved_home
    own = settings.org_home(org).resolve()
    if path.is_relative_to(own / "dbt"):
        return "A file:// repository cannot be the dbt workspace's own folder."
    if path.is_relative_to(home) and not path.is_relative_to(own):
        return "A file:// repository cannot be inside the platform's own folder."
    return None


def _environment(token: str | None) -> dict[str, str]:
    """git's variables, on top of the sandbox's `base_environment()`: nothing inherited."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }
    if token:
        env[TOKEN_VARIABLE] = token
    return env


def _readable(url: str, org_dir: Path) -> tuple[Path, ...]:
    """What git must read outside the org's folder: a `file://` repository."""
    if urlsplit(url).scheme != "file":
        return ()
    path = Path(unquote(urlsplit(url).path)).resolve()
    return () if not path.exists() or path.is_relative_to(org_dir.resolve()) else (path,)


def _credential_options(url: str, token: str | None) -> list[str]:
    if not token or urlsplit(url).scheme != "https":
        return []
    username = "" if urlsplit(url).username else f"echo username={TOKEN_USERNAME};"
    return ["-c", "credential.helper=" + _HELPER % username]


def _git(args: list[str], cwd: Path, org_dir: Path, url: str = "", token: str | None = None) -> str:
    """Run one git command in the org's sandbox; its standard output, or _GitCommandError with its
    (masked) error output. SandboxUnavailableError when the sandbox cannot start here."""
    secrets = [token] if token else []
    sandbox = sandbox_for(org_dir, env=_environment(token), read_only=_readable(url, org_dir), cwd=cwd)
    command = sandbox.command(["git", *_ISOLATION, *_credential_options(url, token), *args])
    try:
        done = command.run(GIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within {GIT_TIMEOUT_S:g} seconds.") from None
    except OSError as exc:
        raise GitError(f"git could not be started: {exc.strerror or exc}.") from None
    if done.returncode != 0:
        raise _GitCommandError(scrub(done.stderr, secrets))
    return scrub(done.stdout, secrets)


def _fatal_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    chosen = (fatal or lines or ["git gave no reason"])[0]
    return chosen.removeprefix("fatal:").removeprefix("error:").strip()


def _fetch_error(stderr: str, url: str, branch: str | None) -> GitError:
    reason = _fatal_line(stderr)
    if "couldn't find remote ref" in reason:
        if branch:
            return GitError(f"The branch '{branch}' does not exist in the repository {url}.")
        return GitError(f"The repository {url} has no commits on its default branch.")
    if "terminal prompts disabled" in reason or "Authentication failed" in reason:
        return GitError(
            f"The repository {url} refused access: give the workspace a git_token that can read it."
        )
    return GitError(f"Could not read the git repository {url}: {reason.rstrip('.')}.")


def _config(repo: Path, org_dir: Path, key: str) -> str | None:
    try:
        return _git(["config", "--get", key], repo, org_dir).strip()
    except (_GitCommandError, GitError):
        return None


def is_checked_out(repo: Path, workspace: DbtWorkspaceBlock, org_dir: Path) -> bool:
    """Whether the folder (inside the org's folder `org_dir`) holds a checkout of the workspace's
    repository and branch."""
    if not (repo / ".git").is_dir():
        return False
    return _config(repo, org_dir, "dalgo.url") == workspace.git_url and _config(
        repo, org_dir, "dalgo.branch"
    ) == (workspace.branch or "")


def pull(repo: Path, workspace: DbtWorkspaceBlock, log: Callable[[str], None], org_dir: Path) -> Checkout:
    """Make `repo` (inside the org's folder `org_dir`, the sandbox's writable place) hold the
    latest commit of the workspace's branch (the default branch when none).

    The folder is made on first use; later pulls fetch the branch's tip and reset the folder to
    it, so files the repository no longer has are removed while untracked ones (installed dbt
    packages) stay. Raises GitError with a sentence for people.
    """
    url, branch, token = workspace.git_url, workspace.branch, workspace.token()
    repo.mkdir(parents=True, exist_ok=True)
    try:
        if not (repo / ".git").is_dir():
            _git(["init", "--quiet"], repo, org_dir)
        log(f"Fetching {f'branch {branch}' if branch else 'the default branch'} of {url}")
        try:
            _git(
                ["fetch", "--quiet", "--depth", "1", "--no-tags", url, branch or "HEAD"],
                repo,
                org_dir,
                url,
                token,
            )
        except _GitCommandError as failed:
            raise _fetch_error(failed.stderr, url, branch) from None
        _git(["reset", "--quiet", "--hard", "FETCH_HEAD"], repo, org_dir)
        _git(["config", "dalgo.url", url], repo, org_dir)
        _git(["config", "dalgo.branch", branch or ""], repo, org_dir)
        commit = _git(["rev-parse", "HEAD"], repo, org_dir).strip()
        subject = _git(["log", "-1", "--format=%s"], repo, org_dir).strip()
    except _GitCommandError as failed:
        raise GitError(f"git failed in the workspace's folder: {_fatal_line(failed.stderr)}") from None
    log(f"Checked out {commit[:12]} ({subject})")
    return Checkout(url=url, branch=branch, commit=commit, subject=subject)


def _listed_tip(listing: str, branch: str | None) -> str | None:
    """The commit `git ls-remote` lists for the branch (its `refs/heads/` ref first), or for HEAD."""
    refs: dict[str, str] = {}
    for line in listing.splitlines():
        commit, _, ref = line.strip().partition("\t")
        if commit and ref:
            refs[ref] = commit
    if branch is None:
        return refs.get("HEAD")
    if f"refs/heads/{branch}" in refs:
        return refs[f"refs/heads/{branch}"]
    return next(iter(refs.values())) if len(refs) == 1 else None


def unchanged_checkout(repo: Path, workspace: DbtWorkspaceBlock, org_dir: Path) -> str | None:
    """The commit `repo` holds when a pull would change nothing: it is a checkout of the workspace's
    repository and branch, its tracked files are as committed, and the branch's tip (asked of the
    repository with `git ls-remote`, no fetch) is that commit. None whenever a pull is needed or
    this cannot be told (the remote does not answer): the pull then runs and says why."""
    if not is_checked_out(repo, workspace, org_dir):
        return None
    url, branch, token = workspace.git_url, workspace.branch, workspace.token()
    try:
        head = _git(["rev-parse", "HEAD"], repo, org_dir).strip()
        if _git(["status", "--porcelain", "--untracked-files=no"], repo, org_dir).strip():
            return None
        listing = _git(["ls-remote", "--quiet", url, branch or "HEAD"], repo, org_dir, url, token)
    except (_GitCommandError, GitError):
        return None
    return head if head and _listed_tip(listing, branch) == head else None
