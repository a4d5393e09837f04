"""`make bench` (`python -m bench`): run the scenarios, print a JSON line per result on stdout,
progress and the final table on stderr. `--scenario NAME` (repeatable) runs a subset, `--quick`
a small version of each that finishes in a few minutes."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import psutil

from bench import fanout, ingest, overhead, runs_list
from bench.client import BenchError
from bench.context import REPO, Context
from bench.report import Report, Result, say
from bench.stack import Databases
from dalgo.stack import StartupError

SCENARIOS = ("overhead", "ingest", "runs-list", "fan-out")


def machine() -> str:
    """The machine in one line: CPUs, memory, Python, load."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    memory = psutil.virtual_memory().total / 2**30
    cpu = platform.processor() or platform.machine()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory:.1f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average {load}"
    )


def commit() -> str:
    """The commit the working tree is at (and whether it has changes), for the record."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def plans(ctx: Context) -> dict[str, Callable[[], None]]:
    """What each scenario runs, full or quick."""
    return {
        "overhead": lambda: overhead.run(
            ctx, ctx.overhead_rows or ([10_000] if ctx.quick else [10_000, 100_000])
        ),
        "ingest": lambda: ingest.run(ctx, 10_000 if ctx.quick else 100_000),
        "runs-list": lambda: runs_list.run(ctx, orgs=20, runs_per_org=20 if ctx.quick else 250),
        "fan-out": lambda: fanout.run(ctx, ctx.fanout_sizes or ([5] if ctx.quick else [50, 200])),
    }


def interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (and SIGINT, even in a background job, which starts with it ignored) stops the
    bench as Ctrl-C does: the stack is stopped and the databases are dropped on the way out."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios; 1 when one of them could not run to its end."""
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scenario", action="append", choices=SCENARIOS, help="run only this scenario (repeatable)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and one round: a few minutes")
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default 3, or 1 with --quick)")
    parser.add_argument(
        "--overhead-rows",
        type=int,
        nargs="+",
        metavar="N",
        help="overhead's faker rows (default 10000 100000)",
    )
    parser.add_argument(
        "--fanout-sizes", type=int, nargs="+", metavar="K", help="fan-out's org counts (default 50 200)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench's DALGO_HOME and databases")
    args = parser.parse_args(argv)
    chosen = args.scenario or list(SCENARIOS)
    rounds = args.rounds or (1 if args.quick else 3)
    home = Path(tempfile.mkdtemp(prefix="dalgo-bench-")) / "home"
    home.mkdir()
    report = Report()
    ctx = Context(
        home, Databases(), report, args.quick, rounds, args.fanout_sizes or [], args.overhead_rows or []
    )
    say(f"machine: {machine()}")
    say(f"commit: {commit()}")
    say(f"scenarios: {', '.join(chosen)}; {'quick, ' if args.quick else ''}{rounds} round(s); home {home}")
    started = time.monotonic()
    failed = False
    try:
        for name in chosen:
            say(f"== {name}")
            try:
                plans(ctx)[name]()
            except (BenchError, StartupError) as error:
                failed = True
                say(f"{name} failed: {error}")
                report.add(Result(name, "error", None, None, "-", {"error": str(error)}))
            except Exception as error:  # noqa: BLE001 - a scenario that breaks must not stop the others
                failed = True
                say(f"{name} failed: {error!r}\n{traceback.format_exc()}")
                report.add(Result(name, "error", None, None, "-", {"error": repr(error)}))
    except KeyboardInterrupt:
        failed = True
        say("interrupted")
    finally:
        if not args.keep:
            ctx.databases.drop_all()
            shutil.rmtree(home.parent, ignore_errors=True)
    say(f"done in {(time.monotonic() - started) / 60:.1f} min; machine: {machine()}")
    print("\n" + report.table(), file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
