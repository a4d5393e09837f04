"""A sandboxed command held to a time limit, tried for real (with bubblewrap and with the sandbox
off): past the limit it is stopped with every process it started and the sentence says so; within
it, it runs to its end as before."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psutil
import pytest

from dalgo.command_limit import CommandTimeLimit, CommandTimeLimitError, duration_text, held_to
from dalgo.connectors.source import prepare_airbyte
from dalgo.sandbox import Sandbox, SandboxedCommand, sandbox_for
from dalgo.settings import Settings

LIMIT_S = 1.0


def test_durations_read_as_a_person_says_them() -> None:
    assert duration_text(1) == "1 second"
    assert duration_text(45.4) == "45 seconds"
    assert duration_text(60) == "1 minute"
    assert duration_text(150) == "2 minutes 30 seconds"
    assert duration_text(7200) == "2 hours"
    assert duration_text(3660) == "1 hour 1 minute"
    limit = CommandTimeLimit(60, stopped_after_s=60.4)
    assert limit.message() == (
        "Stopped after 1 minute: the organization's time limit for a command is 1 minute."
    )


def _marker() -> str:
    """A sleep length no other process on the machine uses: it names this test's processes."""
    return f"{300 + uuid.uuid4().int % 10_000 / 1000:.3f}"


def _left_running(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(marker in part for part in cmdline):
            found.append(process)
    return found


def _tree_command(org_dir: Path, mode: str, limit: CommandTimeLimit, marker: str) -> SandboxedCommand:
    """A shell that starts a sleeping child, and a sleeping grandchild in a session of its own
    holding none of the command's pipes (as a tenant might to outlive it), then sleeps itself."""
    escaped = f"setsid sh -c 'sleep {marker} & sleep {marker}' </dev/null >/dev/null 2>&1 &"
    script = f"{escaped} sleep {marker} & sleep {marker}"
    return Sandbox(org_dir, mode=mode, time_limit=limit).command(["/bin/sh", "-c", script])


@pytest.mark.parametrize("mode", ["bwrap", "off"])
def test_a_command_past_its_limit_is_stopped_with_every_process_it_started(tmp_path: Path, mode: str) -> None:
    marker = _marker()
    limit = CommandTimeLimit(LIMIT_S)
    command = _tree_command(tmp_path, mode, limit, marker)
    started = time.monotonic()
    with pytest.raises(CommandTimeLimitError) as stopped:
        command.run(timeout_s=120)
    assert LIMIT_S <= time.monotonic() - started < 60
    assert str(stopped.value) == (
        "Stopped after 1 second: the organization's time limit for a command is 1 second."
    )
    assert limit.stopped
    gone = psutil.wait_procs(_left_running(marker), timeout=10)[1]
    assert gone == [] and _left_running(marker) == []


@pytest.mark.parametrize("mode", ["bwrap", "off"])
def test_a_command_within_its_limit_runs_to_its_end(tmp_path: Path, mode: str) -> None:
    limit = CommandTimeLimit(60)
    done = Sandbox(tmp_path, mode=mode, time_limit=limit).command(["/bin/sh", "-c", "echo done"]).run(60)
    assert done.returncode == 0 and done.stdout == "done\n" and not limit.stopped


def test_only_commands_started_inside_a_limit_are_held_to_it(tmp_path: Path) -> None:
    settings = Settings(sandbox="off")
    limit = CommandTimeLimit(30)
    with held_to(limit):
        inside = sandbox_for(tmp_path, settings=settings).command(["true"])
    outside = sandbox_for(tmp_path, settings=settings).command(["true"])
    assert inside.time_limit is limit and outside.time_limit is None


def test_a_connectors_output_stops_when_it_runs_past_its_limit(tmp_path: Path) -> None:
    prepare_airbyte()
    from dalgo.connectors.executor import stream_lines

    marker = _marker()
    limit = CommandTimeLimit(LIMIT_S)
    script = f"echo first; sleep {marker} & sleep {marker}; echo never"
    command = Sandbox(tmp_path, mode="bwrap", time_limit=limit).command(["/bin/sh", "-c", script])
    lines: list[str] = []
    with pytest.raises(CommandTimeLimitError):
        lines.extend(stream_lines(command))
    assert lines == ["first\n"]
    assert psutil.wait_procs(_left_running(marker), timeout=10)[1] == []
