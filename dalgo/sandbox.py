"""The sandbox every process runs in that executes what a tenant supplies (dbt, connectors, git).

With `DALGO_SANDBOX=bwrap` (the default) the process runs under bubblewrap (`bwrap`) and sees:

- the system's programs and libraries read-only (`/usr`, and `/bin`, `/lib`, ... as they are on
  the machine), and from `/etc` only what name lookup, TLS and user names need;
- the installs it runs from read-only (a connector's virtual environment, the platform's for dbt,
  and the Python each was built on), each at its own path so their scripts still start;
- the org's own folder (`DALGO_HOME/orgs/<slug>/`) read-write, and nothing else of `DALGO_HOME`:
  no other org's folder, no mail outbox, no keys, no databases;
- an empty `/tmp`, a minimal `/dev`, and a `/proc` of its own processes only (a PID namespace);
- an environment built from an allowlist: what `base_environment` gives plus what the caller adds
  for that one process. Nothing of the platform's own environment is inherited.

The network is shared with the host (dbt must reach the warehouse, connectors their APIs); what it
may reach is guarded by the outbound address check before a run, by Prefect's API credential
(which tenant processes never hold) and, in production, by network policy (docs/operations.md).

With `DALGO_SANDBOX=off` the same allowlisted environment is used, without bubblewrap; the
platform logs a warning at every start (`warn_if_off`). Where bubblewrap is asked for but cannot
run, tenant code is refused with `SandboxUnavailableError`, never run unsandboxed.

Either way a command starts in a session of its own, and inside a run it is held to the org's time
limit for a command (`dalgo.command_limit`): past it, it is stopped with every process it started.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dalgo.command_limit import CommandTimeLimit, current_limit, stop_process_tree
from dalgo.settings import Settings, get_settings

SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/conda")
"""Read-only system folders, bound when they exist (or recreated as the symlinks they are)."""
ETC_ENTRIES = (
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/hosts",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/nsswitch.conf",
    "/etc/protocols",
    "/etc/resolv.conf",
    "/etc/services",
    "/etc/ssl",
)
"""What a tenant process may read of the machine's `/etc`: name lookup, TLS roots, the time zone."""
USER_FILES = {
    "passwd": (
        "root:x:0:0:sandbox:/tmp/home:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "group": "root:x:0:\nnogroup:x:65534:\n",
}
"""The sandbox's own `/etc/passwd` and `/etc/group` (programs look their user up), in place of the
machine's, which would tell a tenant the machine's accounts."""
SANDBOX_HOME = "/tmp/home"  # noqa: S108 - inside the sandbox's own empty /tmp
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_BWRAP_PROBE_TIMEOUT_S = 20.0
SANDBOX_OFF_WARNING = (
    "DALGO_SANDBOX=off: tenant code (dbt projects, connectors, git) runs WITHOUT the sandbox, "
    "with access to this machine's files. Use this only where every org is trusted."
)

log = logging.getLogger(__name__)


class SandboxUnavailableError(RuntimeError):
    """Tenant code cannot run: the sandbox was asked for and cannot start here."""


@dataclass(frozen=True)
class SandboxedCommand:
    """A command ready to start: its argument list, the whole environment to start it with, and the
    time limit it is held to (`dalgo.command_limit`; None: none)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    time_limit: CommandTimeLimit | None = None

    def start(self, **options: Any) -> subprocess.Popen[Any]:
        """Start the command in a session (and process group) of its own, with `options` for
        `subprocess.Popen`, and have it stopped, with every process it started, once it runs past
        its time limit. OSError when it cannot start."""
        process: subprocess.Popen[Any] = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, start_new_session=True, **options
        )
        if self.time_limit is not None:
            self.time_limit.watch(process)
        return process

    def run(self, timeout_s: float) -> subprocess.CompletedProcess[str]:
        """Run the command to its end with no input, its output captured as text. Raises
        subprocess.TimeoutExpired after `timeout_s`, CommandTimeLimitError when it ran past its time
        limit, and OSError when it cannot start; either way no process of it is left running."""
        process = self.start(
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except BaseException:
            stop_process_tree(process)
            process.communicate()
            raise
        if self.time_limit is not None:
            self.time_limit.check()
        return subprocess.CompletedProcess(self.argv, process.returncode, stdout, stderr)

    def argv_with_env(self) -> list[str]:
        """The command prefixed with `env -i NAME=value ...`, for a caller that cannot pass an
        environment (PyAirbyte starts connectors itself). The values are visible in the process
        list, so this is only for environments without secrets."""
        return ["/usr/bin/env", "-i", *(f"{key}={value}" for key, value in self.env.items()), *self.argv]


@dataclass(frozen=True)
class Sandbox:
    """What one tenant process may see: the org's folder read-write, some installs and files
    read-only, and exactly the environment given (over `base_environment`)."""

    org_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    read_only: tuple[Path, ...] = ()
    cwd: Path | None = None
    mode: str = "bwrap"
    time_limit: CommandTimeLimit | None = None

    def command(self, argv: Sequence[str]) -> SandboxedCommand:
        """`argv` as it must be started: under bubblewrap, or as it is when the sandbox is off.
        Raises SandboxUnavailableError when bubblewrap is asked for and cannot run here."""
        env = {**base_environment(), **self.env}
        cwd = str(self.cwd) if self.cwd else str(self.org_dir)
        if self.mode == "off":
            return SandboxedCommand(list(argv), env, cwd, self.time_limit)
        bwrap = require_bwrap()
        return SandboxedCommand([bwrap, *self.bwrap_options(), "--", *argv], env, cwd, self.time_limit)

    def bwrap_options(self) -> list[str]:
        """bubblewrap's options for this sandbox (without the command)."""
        options = [
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",  # noqa: S108 - a fresh tmpfs inside the sandbox
            "--dir",
            SANDBOX_HOME,
        ]
        options += _system_binds()
        for entry in ETC_ENTRIES:
            options += ["--ro-bind-try", entry, entry]
        for name, path in _user_files().items():
            options += ["--ro-bind", str(path), f"/etc/{name}"]
        for path in _unique(self.read_only):
            options += ["--ro-bind", str(path), str(path)]
        org_dir = self.org_dir.resolve()
        options += ["--bind", str(org_dir), str(org_dir)]
        options += ["--chdir", str(self.cwd.resolve() if self.cwd else org_dir)]
        return options


def base_environment() -> dict[str, str]:
    """What every tenant process gets: a plain PATH, a home in its own /tmp, a UTF-8 locale."""
    return {
        "PATH": DEFAULT_PATH,
        "HOME": SANDBOX_HOME,
        "TMPDIR": "/tmp",  # noqa: S108 - the sandbox's own tmpfs
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def python_install(venv: Path) -> tuple[Path, ...]:
    """The folders a virtual environment needs to run: itself and the Python it was made from."""
    venv = venv.absolute()
    folders = [venv]
    config = venv / "pyvenv.cfg"
    if config.is_file():
        for line in config.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                folders.append(Path(value.strip()).resolve().parent)
    python = venv / "bin" / "python"
    if python.exists():
        folders.append(python.resolve().parent.parent)
    return _unique(folders)


def platform_python_install() -> tuple[Path, ...]:
    """The platform's own virtual environment (where dbt and its adapters are installed)."""
    return python_install(Path(sys.prefix))


def sandbox_for(
    org_dir: Path,
    env: Mapping[str, str] | None = None,
    read_only: Iterable[Path] = (),
    cwd: Path | None = None,
    settings: Settings | None = None,
) -> Sandbox:
    """A sandbox for one of the org's processes, in the mode the platform's settings ask for, its
    commands held to the time limit of the run they are started in (`dalgo.command_limit`)."""
    settings = settings or get_settings()
    org_dir.mkdir(parents=True, exist_ok=True)
    return Sandbox(org_dir, dict(env or {}), _unique(read_only), cwd, settings.sandbox, current_limit())


def warn_if_off(
    settings: Settings, logger: logging.Logger | logging.LoggerAdapter[Any] | None = None
) -> None:
    """Log a warning when tenant code would run unsandboxed (called at every start)."""
    if settings.sandbox == "off":
        (logger or log).warning("%s", SANDBOX_OFF_WARNING)


def require_bwrap() -> str:
    """The path of a bwrap that can start a sandbox here; SandboxUnavailableError otherwise."""
    problem = _bwrap_problem()
    if problem:
        raise SandboxUnavailableError(
            f"Tenant code cannot run on this worker: the sandbox (bubblewrap) {problem}. "
            "Install the 'bubblewrap' package (make install does so where it can), or set "
            "DALGO_SANDBOX=off to run tenant code unsandboxed where every org is trusted."
        )
    found = shutil.which("bwrap")
    assert found is not None
    return found


@functools.cache
def _bwrap_problem() -> str | None:
    """Why bubblewrap cannot start a sandbox here (checked once per process), or None."""
    found = shutil.which("bwrap")
    if found is None:
        return "is not installed (no `bwrap` on PATH)"
    probe = [found, *_system_binds(), "--proc", "/proc", "--dev", "/dev", "--unshare-pid", "--", "true"]
    try:
        done = subprocess.run(
            probe, capture_output=True, text=True, timeout=_BWRAP_PROBE_TIMEOUT_S, check=False, env={}
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not be started ({exc})"
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return f"cannot start here ({reason})"
    return None


@functools.cache
def _user_files() -> dict[str, Path]:
    """The sandbox's passwd and group files, written once per process into a private folder."""
    folder = Path(tempfile.mkdtemp(prefix="dalgo-sandbox-etc-"))
    folder.chmod(0o755)
    files: dict[str, Path] = {}
    for name, content in USER_FILES.items():
        files[name] = folder / name
        files[name].write_text(content, encoding="utf-8")
        files[name].chmod(0o644)
    return files


@functools.cache
def _system_binds() -> tuple[str, ...]:
    options: list[str] = []
    for folder in SYSTEM_FOLDERS:
        path = Path(folder)
        if path.is_symlink():
            options += ["--symlink", str(path.readlink()), folder]
        elif path.is_dir():
            options += ["--ro-bind", folder, folder]
    return tuple(options)


def _unique(paths: Iterable[Path]) -> tuple[Path, ...]:
    seen: dict[str, Path] = {}
    for path in paths:
        seen.setdefault(str(path), path)
    return tuple(seen.values())
