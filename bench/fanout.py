"""fan-out: K orgs, each with a cheap pipeline (a sync of a few faker rows into its own schema
of a shared Postgres warehouse), all due in the same minute: how long until all have finished,
the spread of their start delays (the longest over the median) and the peak memory of the whole
stack (the resident memory of the Prefect server, the worker, the API and every process they
started, summed; Postgres is not counted).

The machine is shared, so the bench guards it: when the work pool has no concurrency limit, it
sets one (`POOL_LIMIT_IF_NONE`) and says so, and if the stack's memory passes
`MEMORY_GUARD_SHARE` of the machine's it pauses the pool and stops the scenario.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil

from bench.client import FINISHED, ApiClient, BenchError, when
from bench.context import Context, MemorySampler, megabytes
from bench.report import Result, median, say
from bench.stack import RunningStack, running_stack
from dalgo.naming import kind_tag
from dalgo.run_states import api_state

FAKER_ROWS = 20
POOL_LIMIT_IF_NONE = 8
MEMORY_GUARD_SHARE = 0.6
SETUP_THREADS = 4
SCHEDULE_MARGIN_S = 45.0


def make_org(api: ApiClient, warehouse: str, index: int) -> tuple[str, str]:
    """An org with a Postgres warehouse and a manual pipeline of one small sync; (slug, pipeline id)."""
    org = api.make_org(f"fan-{index:03d}-{uuid.uuid4().hex[:4]}")
    api.postgres_warehouse(org, warehouse, schema=f"analytics_{index}")
    connection = api.faker_connection(org, FAKER_ROWS, schema=f"raw_{index}")
    return org, api.pipeline(org, [{"type": "sync", "connection_id": connection}])


def guard_pool(stack: RunningStack) -> tuple[int | None, bool]:
    """The work pool's concurrency limit, set to POOL_LIMIT_IF_NONE when it has none; (limit, set here)."""
    pool = stack.prefect("GET", f"/work_pools/{stack.settings.work_pool}")
    limit = pool.get("concurrency_limit")
    if limit is not None:
        return int(limit), False
    stack.prefect(
        "PATCH", f"/work_pools/{stack.settings.work_pool}", {"concurrency_limit": POOL_LIMIT_IF_NONE}
    )
    return POOL_LIMIT_IF_NONE, True


def due_runs(stack: RunningStack, due: datetime) -> list[dict[str, Any]]:
    """The pipeline runs expected to start at `due`, every page."""
    window = {
        "after_": (due - timedelta(seconds=1)).isoformat(),
        "before_": (due + timedelta(seconds=1)).isoformat(),
    }
    body: dict[str, Any] = {
        "flow_runs": {"tags": {"all_": [kind_tag("pipeline")]}, "expected_start_time": window},
        "limit": 200,
    }
    found: list[dict[str, Any]] = []
    while True:
        page = stack.prefect("POST", "/flow_runs/filter", {**body, "offset": len(found)})
        found += page
        if len(page) < 200:
            return found


def schedule_all(api: ApiClient, pipelines: list[tuple[str, str]]) -> datetime:
    """Give every pipeline a cron schedule due at the same minute, far enough ahead for all of
    them to be scheduled by Prefect before it; that minute. The first pipelines' update times
    the rest; when the updates still end too late, they are made again with the time they took."""
    probe = pipelines[:SETUP_THREADS]
    started = time.monotonic()
    _put_schedules(api, probe, datetime.now(UTC) + timedelta(days=1))
    each = (time.monotonic() - started) / len(probe)
    for _ in range(2):
        lead = SCHEDULE_MARGIN_S + 1.5 * each * len(pipelines) / SETUP_THREADS
        due = (datetime.now(UTC) + timedelta(seconds=lead + 60)).replace(second=0, microsecond=0)
        started = time.monotonic()
        _put_schedules(api, pipelines, due)
        left = (due - datetime.now(UTC)).total_seconds()
        if left >= 10:
            say(f"  {len(pipelines)} pipelines due at {due:%H:%M:%S} UTC, in {left:.0f} s")
            return due
        each = (time.monotonic() - started) * SETUP_THREADS / len(pipelines)
        say(f"  setting the schedules ended {-left:.0f} s after they were due; again, with more time")
    raise BenchError(f"setting {len(pipelines)} schedules took longer than they were given, twice")


def _put_schedules(api: ApiClient, pipelines: list[tuple[str, str]], due: datetime) -> None:
    """Every pipeline's schedule set to daily at `due`'s hour and minute (UTC)."""
    body = {"schedule": {"cron": f"{due.minute} {due.hour} * * *", "timezone": "UTC"}}

    def one(item: tuple[str, str]) -> None:
        api.call("PUT", f"/orgs/{item[0]}/pipelines/{item[1]}", 200, body)

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        list(pool.map(one, pipelines))


def follow(
    stack: RunningStack, due: datetime, count: int, timeout_s: float
) -> tuple[list[dict[str, Any]], int]:
    """Wait until `count` runs due at `due` have ended, watching memory; the runs and the
    stack's peak memory."""
    total_memory = psutil.virtual_memory().total
    deadline = time.monotonic() + (due - datetime.now(UTC)).total_seconds() + timeout_s
    with MemorySampler(stack, interval_s=0.5) as memory:
        while True:
            runs = due_runs(stack, due)
            ended = [r for r in runs if api_state_name(r) in FINISHED]
            if len(runs) >= count and len(ended) == len(runs):
                return runs, memory.peak_stack
            if memory.peak_stack > MEMORY_GUARD_SHARE * total_memory:
                stack.prefect("PATCH", f"/work_pools/{stack.settings.work_pool}", {"is_paused": True})
                raise BenchError(
                    f"the stack's memory reached {megabytes(memory.peak_stack)} MB, over "
                    f"{MEMORY_GUARD_SHARE:.0%} of the machine's; the work pool was paused"
                )
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{len(ended)} of {count} runs had ended {timeout_s:.0f} s after they were due"
                )
            time.sleep(3)


def api_state_name(run: dict[str, Any]) -> str:
    """A raw flow run's state in the API's words."""
    from prefect.client.schemas.objects import State

    state = run.get("state")
    return api_state(State.model_validate(state) if state else None)


def measure(
    stack: RunningStack, api: ApiClient, pipelines: list[tuple[str, str]], timeout_s: float
) -> Result:
    """Fire all the pipelines in the same minute and follow them to their end."""
    limit, set_here = guard_pool(stack)
    due = schedule_all(api, pipelines)
    runs, peak = follow(stack, due, len(pipelines), timeout_s)
    fired = due.timestamp()
    delays = sorted((when(r["start_time"]) or fired) - fired for r in runs if r.get("start_time"))
    ends = [when(r["end_time"]) or fired for r in runs if r.get("end_time")]
    states = [api_state_name(r) for r in runs]
    completed = sum(1 for s in states if s in ("completed", "completed_with_warnings"))
    started = len(delays)
    all_done = round(max(ends) - fired, 2) if ends else None
    middle = median(delays)
    spread = round(max(delays) / middle, 2) if delays and middle else None
    result = Result(
        "fan-out",
        f"{len(pipelines)} orgs due at once",
        all_done,
        None,
        "every org's run starts; memory within the machine",
        {
            "orgs": len(pipelines),
            "runs_started": started,
            "runs_completed": completed,
            "start_delay_median_s": middle,
            "start_delay_max_s": round(max(delays), 2) if delays else None,
            "start_delay_spread": spread,
            "stack_peak_rss_mb": megabytes(peak),
            "machine_memory_mb": megabytes(psutil.virtual_memory().total),
            "pool_concurrency_limit": limit,
            "pool_limit_set_by_bench": set_here,
        },
    )
    result.meets = started == len(pipelines) and completed == len(pipelines)
    return result


def run(ctx: Context, sizes: list[int]) -> None:
    """Each size in turn on one stack; the orgs of a smaller size are among the larger's."""
    with running_stack(ctx.home, ctx.databases) as stack:
        api = ApiClient.login(stack.api_base, stack.admin.email, stack.admin.password)
        try:
            warehouse = ctx.databases.make("wh_fanout")
            pipelines: list[tuple[str, str]] = []
            for size in sorted(sizes):
                say(f"fan-out: making orgs {len(pipelines) + 1} to {size}")
                if not pipelines:
                    # The first org alone: concurrent first saves of a block type on a fresh
                    # Prefect race to register it (issue noted in bench/README.md).
                    pipelines.append(make_org(api, warehouse, 0))
                with ThreadPoolExecutor(SETUP_THREADS) as pool:
                    made = list(pool.map(lambda i: make_org(api, warehouse, i), range(len(pipelines), size)))
                pipelines += made
                say(f"fan-out: {size} orgs made; firing them")
                ctx.report.add(measure(stack, api, pipelines, timeout_s=300 + 6.0 * size))
        finally:
            api.close()
