"""overhead: a pipeline (a source-faker sync into Postgres, then `dbt run` of the example project)
made and triggered through the web API and followed to completion, against a script doing the
same work directly (PyAirbyte with the same installed connector, then the dbt CLI); plus the time
from the trigger to the run's `Running` state and to its first step's start."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.client import SUCCEEDED, ApiClient, BenchError, when
from bench.context import EXAMPLE_PROJECT, REPO, Context, MemorySampler, megabytes
from bench.report import Result, median, say
from bench.stack import RunningStack, admin_execute, running_stack
from dalgo.connectors.install import executable_path

RUN_TIMEOUT_S = 1800.0
FIXED_STEPS = ("dbt-git-pull", "dbt-deps")


@dataclass
class Sides:
    """The figures of each round, ours and direct."""

    ours: list[float] = field(default_factory=list)
    direct: list[float] = field(default_factory=list)
    to_running: list[float] = field(default_factory=list)
    to_first_step: list[float] = field(default_factory=list)
    fixed_steps: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    direct_sync: list[float] = field(default_factory=list)
    direct_dbt: list[float] = field(default_factory=list)
    flow_run_rss: list[int] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)


def reset_warehouse(url: str) -> None:
    """Drop what a previous round left (the raw tables with their sync state, the dbt models),
    so every round is a first full load."""
    admin_execute("DROP SCHEMA IF EXISTS raw CASCADE", url)
    admin_execute("DROP SCHEMA IF EXISTS analytics CASCADE", url)


def step_key(name: str) -> str:
    """`<slug>--step2-dbt-run` as `dbt-run`."""
    label = name.split("--", 1)[-1]
    return label.split("-", 1)[1] if label.startswith("step") else label


def run_ours(api: ApiClient, stack: RunningStack, org: str, pipeline_id: str, sides: Sides) -> None:
    """Trigger the pipeline through the API and follow it to its end."""
    with MemorySampler(stack, interval_s=0.25) as memory:
        triggered = time.time()
        run_id = api.run_pipeline(org, pipeline_id)
        run = api.wait(org, run_id, RUN_TIMEOUT_S, poll_s=0.25)
    if run["state"] not in SUCCEEDED:
        raise BenchError(f"the pipeline run ended {run['state']}: {api.failure(org, run_id)}")
    end, start = when(run["end_time"]), when(run["start_time"])
    assert end is not None and start is not None
    flows = sorted(
        (s for s in run["steps"] if s["type"] == "flow" and s["start_time"]), key=lambda s: s["start_time"]
    )
    sides.ours.append(end - triggered)
    sides.to_running.append(start - triggered)
    if flows:
        sides.to_first_step.append((when(flows[0]["start_time"]) or 0.0) - triggered)
    fixed = 0.0
    for step in flows:
        if step["end_time"]:
            seconds = (when(step["end_time"]) or 0.0) - (when(step["start_time"]) or 0.0)
            sides.steps.setdefault(step_key(step["name"]), []).append(seconds)
            fixed += seconds if step_key(step["name"]) in FIXED_STEPS else 0.0
    sides.fixed_steps.append(fixed)
    sides.flow_run_rss.append(memory.peak_flow_run)
    sync = next((s for s in flows if step_key(s["name"]).startswith("sync")), None)
    if sync is not None:
        detail = api.call("GET", f"/orgs/{org}/runs/{sync['id']}", 200)
        sides.records["ours"] = int((detail.get("result") or {}).get("records") or 0)


def run_direct(ctx: Context, rows: int, warehouse: str, project: str, sides: Sides) -> None:
    """The same work in one script (`bench.direct`), timed from its start to its exit."""
    work = ctx.work_dir(f"direct-{rows}")
    command = [
        sys.executable,
        "-m",
        "bench.direct",
        "--rows",
        str(rows),
        "--warehouse",
        warehouse,
        "--connector",
        str(executable_path("source-faker", ctx.home / "connectors")),
        "--project",
        project,
        "--work",
        str(work),
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(f"the direct script failed: {(done.stderr or done.stdout)[-1500:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    sides.direct.append(seconds)
    sides.direct_sync.append(float(figures["sync_s"]))
    sides.direct_dbt.append(float(figures["dbt_s"]))
    sides.records["direct"] = int(figures["records"])


def prepare(ctx: Context, api: ApiClient, stack: RunningStack, rows: int) -> tuple[str, str, str, str, str]:
    """The org (warehouse, faker connection, example dbt workspace, pipeline) and the direct
    side's warehouse and project copy: (org, pipeline id, our warehouse, direct's, project)."""
    org = api.make_org(f"ovh-{rows // 1000}k-{uuid.uuid4().hex[:4]}")
    ours_url = ctx.databases.make("wh_ours")
    direct_url = ctx.databases.make("wh_direct")
    api.postgres_warehouse(org, ours_url)
    connection = api.faker_connection(org, rows)
    api.example_dbt_workspace(org, stack.settings)
    pipeline = api.pipeline(
        org, [{"type": "sync", "connection_id": connection}, {"type": "dbt", "command": "run"}]
    )
    project = ctx.work_dir(f"project-{rows}") / "dbt_project"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(EXAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return org, pipeline, ours_url, direct_url, str(project)


def measure(ctx: Context, api: ApiClient, stack: RunningStack, rows: int) -> Sides:
    """Rounds of both sides, alternating which goes first."""
    org, pipeline, ours_url, direct_url, project = prepare(ctx, api, stack, rows)
    sides = Sides()
    for index in range(ctx.rounds):
        order = ("ours", "direct") if index % 2 == 0 else ("direct", "ours")
        for side in order:
            say(f"overhead {rows} rows: round {index + 1}/{ctx.rounds}, {side}")
            if side == "ours":
                reset_warehouse(ours_url)
                run_ours(api, stack, org, pipeline, sides)
                say(f"  ours {sides.ours[-1]:.1f} s (trigger to running {sides.to_running[-1]:.1f} s)")
            else:
                reset_warehouse(direct_url)
                run_direct(ctx, rows, direct_url, project, sides)
                say(f"  direct {sides.direct[-1]:.1f} s")
    return sides


def results(rows: int, sides: Sides) -> list[Result]:
    """The lines of one size: the pipeline against the script, trigger to running, trigger to
    first step, and the fixed git-pull + deps steps."""
    size = f"{rows // 1000}K rows"
    target = 1.15 if rows <= 10_000 else 1.00
    steps = {name: median(values) for name, values in sides.steps.items()}
    pipeline = Result(
        "overhead",
        f"pipeline {size}",
        median(sides.ours),
        median(sides.direct),
        f"ratio <= {target:.2f}",
        {
            "rounds": len(sides.ours),
            "ours_rounds_s": [round(v, 2) for v in sides.ours],
            "direct_rounds_s": [round(v, 2) for v in sides.direct],
            "ours_steps_s": steps,
            "direct_sync_s": median(sides.direct_sync),
            "direct_dbt_s": median(sides.direct_dbt),
            "records": sides.records,
            "flow_run_peak_rss_mb": megabytes(max(sides.flow_run_rss, default=0)),
        },
    )
    pipeline.meets = pipeline.ratio is not None and pipeline.ratio <= target
    running = Result(
        "overhead",
        f"trigger->running {size}",
        median(sides.to_running),
        None,
        "<= 2 s median",
        {"rounds_s": [round(v, 2) for v in sides.to_running]},
    )
    running.meets = running.ours_s is not None and running.ours_s <= 2.0
    first = Result(
        "overhead",
        f"trigger->first step {size}",
        median(sides.to_first_step),
        None,
        "-",
        {"rounds_s": [round(v, 2) for v in sides.to_first_step]},
    )
    fixed = Result(
        "overhead",
        f"git-pull+deps {size}",
        median(sides.fixed_steps),
        None,
        "~0 s when unchanged",
        {"rounds_s": [round(v, 2) for v in sides.fixed_steps]},
    )
    fixed.meets = fixed.ours_s is not None and fixed.ours_s <= 0.5
    return [pipeline, running, first, fixed]


def run(ctx: Context, sizes: list[int]) -> None:
    """The overhead scenario at each size, on a stack of its own."""
    with running_stack(ctx.home, ctx.databases) as stack:
        api = ApiClient.login(stack.api_base, stack.admin.email, stack.admin.password)
        try:
            for rows in sizes:
                for result in results(rows, measure(ctx, api, stack, rows)):
                    ctx.report.add(result)
        finally:
            api.close()
