"""runs-list: the API's run list, run detail and run logs at 20 concurrent clients, against the
same questions asked of Prefect's API directly; first with 6 runs in all, then with many orgs'
runs (by default 20 orgs x 250).

The runs are made cheaply, straight through Prefect's API, tagged as the API tags an org's
pipeline runs (`org:<slug>`, `kind:pipeline`, `pipeline:<id>`, and `triggered-by:<email>` for
half), each made Running, then Completed in bulk (so it has start and end times) with a few log lines.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.client import ApiClient
from bench.context import Context
from bench.report import Result, median, percentile, say
from bench.stack import RunningStack, running_stack
from dalgo.naming import kind_tag, org_tag, triggered_by_tag

CLIENTS = 20
LOGS_PER_RUN = 3
CREATE_CONCURRENCY = 16
BULK_LIMIT = 50
KINDS = ("list", "detail", "logs")
PAGE = 50

Ask = Callable[[httpx.AsyncClient, str, str], Awaitable[None]]


@dataclass
class Runs:
    """The runs made so far, by org."""

    by_org: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """How many runs in all."""
        return sum(len(ids) for ids in self.by_org.values())


async def _make_run(http: httpx.AsyncClient, flow_id: str, org: str, pipeline: str, index: int) -> str:
    """One of the org's pipeline runs, made Running; its id."""
    tags = [org_tag(org), kind_tag("pipeline"), f"pipeline:{pipeline}"]
    if index % 2:
        tags.append(triggered_by_tag(f"someone-{index % 7}@example.org"))
    body = {
        "flow_id": flow_id,
        "name": f"{org}--pipeline-{pipeline[:8]}-{index:05d}",
        "tags": tags,
        "parameters": {"org": org, "pipeline_id": pipeline},
        "state": {"type": "RUNNING", "name": "Running"},
    }
    made = await http.post("/flow_runs/", json=body)
    made.raise_for_status()
    return str(made.json()["id"])


async def _complete_runs(http: httpx.AsyncClient, org: str) -> None:
    """Take the org's running runs to Completed, a page at a time (Prefect's bulk state change)."""
    done = {"type": "COMPLETED", "name": "Completed", "message": "All 2 steps completed."}
    runs = {"tags": {"all_": [org_tag(org)]}, "state": {"type": {"any_": ["RUNNING"]}}}
    while True:
        body = {"flow_runs": runs, "state": done, "force": True, "limit": BULK_LIMIT}
        response = await http.post("/flow_runs/bulk_set_state", json=body)
        response.raise_for_status()
        if len(response.json().get("results") or []) < BULK_LIMIT:
            return


async def make_runs(stack: RunningStack, runs: Runs, wanted: dict[str, int]) -> None:
    """Make runs until each org in `wanted` has that many, with their log lines."""
    async with httpx.AsyncClient(
        base_url=stack.prefect_api, headers=stack.prefect_headers, timeout=120
    ) as http:
        flow = await http.post("/flows/", json={"name": "pipeline"})
        flow.raise_for_status()
        flow_id = str(flow.json()["id"])
        jobs: list[tuple[str, str, int]] = []
        for org, count in wanted.items():
            have = len(runs.by_org.setdefault(org, []))
            pipelines = [str(uuid.uuid4()) for _ in range(2)]
            jobs += [(org, pipelines[i % 2], i) for i in range(have, count)]
        gate = asyncio.Semaphore(CREATE_CONCURRENCY)
        made: list[tuple[str, str]] = []

        async def one(org: str, pipeline: str, index: int) -> None:
            async with gate:
                made.append((org, await _make_run(http, flow_id, org, pipeline, index)))
                if len(made) % 500 == 0:
                    say(f"  {len(made)}/{len(jobs)} runs made")

        await asyncio.gather(*(one(*job) for job in jobs))
        for org in wanted:
            await _complete_runs(http, org)
        logs: list[dict[str, Any]] = []
        now = datetime.now(UTC).isoformat()
        for org, run_id in made:
            runs.by_org[org].append(run_id)
            for line in range(LOGS_PER_RUN):
                logs.append(
                    {
                        "name": "prefect.flow_runs",
                        "level": 20,
                        "message": f"Step {line + 1}: a line of the run's log",
                        "timestamp": now,
                        "flow_run_id": run_id,
                    }
                )
        for start in range(0, len(logs), 1000):
            sent = await http.post("/logs/", json=logs[start : start + 1000])
            sent.raise_for_status()


def ours(org_tokens: dict[str, str]) -> dict[str, Ask]:
    """The three questions through the web API."""

    def headers(org: str) -> dict[str, str]:
        return {"Authorization": org_tokens[org]}

    async def listing(http: httpx.AsyncClient, org: str, run_id: str) -> None:
        (await http.get(f"/orgs/{org}/runs", params={"limit": PAGE}, headers=headers(org))).raise_for_status()

    async def detail(http: httpx.AsyncClient, org: str, run_id: str) -> None:
        (await http.get(f"/orgs/{org}/runs/{run_id}", headers=headers(org))).raise_for_status()

    async def logs(http: httpx.AsyncClient, org: str, run_id: str) -> None:
        response = await http.get(
            f"/orgs/{org}/runs/{run_id}/logs", params={"limit": 200}, headers=headers(org)
        )
        response.raise_for_status()

    return {"list": listing, "detail": detail, "logs": logs}


def direct() -> dict[str, Ask]:
    """The same three questions asked of Prefect's API: a filtered page of the org's top-level
    runs newest first and their count; the run, its task runs, its subflow runs and its result
    artifact; the run's logs."""

    async def post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
        response = await http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    async def listing(http: httpx.AsyncClient, org: str, run_id: str) -> None:
        runs = {"tags": {"all_": [org_tag(org)]}, "parent_task_run_id": {"is_null_": True}}
        await post(http, "/flow_runs/filter", {"flow_runs": runs, "sort": "START_TIME_DESC", "limit": PAGE})
        await post(http, "/flow_runs/count", {"flow_runs": runs})

    async def detail(http: httpx.AsyncClient, org: str, run_id: str) -> None:
        (await http.get(f"/flow_runs/{run_id}")).raise_for_status()
        await post(http, "/task_runs/filter", {"task_runs": {"flow_run_id": {"any_": [run_id]}}})
        await post(http, "/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}})
        await post(http, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})

    async def logs(http: httpx.AsyncClient, org: str, run_id: str) -> None:
        body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200}
        await post(http, "/logs/filter", body)

    return {"list": listing, "detail": detail, "logs": logs}


async def _clients(
    base: str, headers: dict[str, str], asks: dict[str, Ask], runs: Runs, per_client: int
) -> dict[str, list[float]]:
    """CLIENTS clients at once, each asking `per_client` times each question about its org's
    runs; the latencies by question."""
    orgs = [org for org, ids in runs.by_org.items() if ids]
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    limits = httpx.Limits(max_connections=CLIENTS * 2, max_keepalive_connections=CLIENTS * 2)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as http:

        async def client(number: int) -> None:
            org = orgs[number % len(orgs)]
            pick = random.Random(number)  # noqa: S311 - which run to ask about, not a secret
            for _ in range(per_client):
                for kind in KINDS:
                    started = time.monotonic()
                    await asks[kind](http, org, pick.choice(runs.by_org[org]))
                    latencies[kind].append(time.monotonic() - started)

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return latencies


@dataclass
class Case:
    """Per-round p50 and p95 of each question, each side."""

    p50: dict[str, list[float]] = field(default_factory=dict)
    p95: dict[str, list[float]] = field(default_factory=dict)

    def add(self, side: str, latencies: dict[str, list[float]]) -> None:
        """Record one round of one side."""
        for kind, values in latencies.items():
            self.p50.setdefault(f"{side}:{kind}", []).append(percentile(values, 50) or 0.0)
            self.p95.setdefault(f"{side}:{kind}", []).append(percentile(values, 95) or 0.0)


def measure(
    ctx: Context, stack: RunningStack, tokens: dict[str, str], runs: Runs, label: str, per_client: int
) -> None:
    """Rounds of both sides, alternating which goes first; one result per question."""
    case = Case()
    sides = {
        "ours": (stack.api_base, {}, ours(tokens)),
        "direct": (stack.prefect_api, stack.prefect_headers, direct()),
    }
    for index in range(ctx.rounds):
        order = ("ours", "direct") if index % 2 == 0 else ("direct", "ours")
        for side in order:
            base, headers, asks = sides[side]
            started = time.monotonic()
            latencies = asyncio.run(_clients(base, headers, asks, runs, per_client))
            case.add(side, latencies)
            p95 = {kind: percentile(values, 95) for kind, values in latencies.items()}
            say(f"  {label}, round {index + 1}, {side}: p95 {p95} ({time.monotonic() - started:.1f} s)")
    total = stack.prefect("POST", "/flow_runs/count", {})
    for kind in KINDS:
        result = Result(
            "runs-list",
            f"{kind} p95, {label}",
            median(case.p95[f"ours:{kind}"]),
            median(case.p95[f"direct:{kind}"]),
            "p95 <= Prefect's own",
            {
                "clients": CLIENTS,
                "requests_per_round": CLIENTS * per_client,
                "ours_p50_s": median(case.p50[f"ours:{kind}"]),
                "direct_p50_s": median(case.p50[f"direct:{kind}"]),
                "orgs_with_runs": sum(1 for ids in runs.by_org.values() if ids),
                "org_runs": runs.total,
                "prefect_flow_runs": total,
            },
        )
        result.meets = result.ratio is not None and result.ratio <= 1.0
        ctx.report.add(result)


def run(ctx: Context, orgs: int, runs_per_org: int) -> None:
    """First 6 runs in all, then `orgs` x `runs_per_org`."""
    per_client = 2 if ctx.quick else 5
    with running_stack(ctx.home, ctx.databases) as stack:
        admin = ApiClient.login(stack.api_base, stack.admin.email, stack.admin.password)
        try:
            slugs = [admin.make_org(f"runs-{n:02d}-{uuid.uuid4().hex[:4]}") for n in range(orgs)]
            tokens: dict[str, str] = {}
            for slug in slugs:
                client = ApiClient.login(stack.api_base, stack.admin.email, stack.admin.password)
                tokens[slug] = client.token
                client.http.close()
        finally:
            admin.close()
        runs = Runs()
        say("runs-list: 6 runs in all")
        asyncio.run(make_runs(stack, runs, {slug: 1 for slug in slugs[:6]}))
        measure(ctx, stack, tokens, runs, "6 runs", per_client)
        say(f"runs-list: making {orgs} x {runs_per_org} runs")
        asyncio.run(make_runs(stack, runs, dict.fromkeys(slugs, runs_per_org)))
        measure(ctx, stack, tokens, runs, f"{orgs}x{runs_per_org} runs", per_client)
