"""ingest: records per second of a sync (the connector read through the platform into a Postgres
warehouse, as the sync's own result times it) against the connector's own emit rate (the same
installed connector, same config and catalog, its stdout to /dev/null)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from bench.client import SUCCEEDED, ApiClient, BenchError, faker_config, when
from bench.context import Context
from bench.overhead import reset_warehouse
from bench.report import Result, median, say
from bench.stack import running_stack
from dalgo.connectors.install import executable_path

SYNC_TIMEOUT_S = 1800.0
RATE_TARGET = 0.5


def configured_catalog(executable: Path, config: Path, streams: list[str]) -> dict[str, Any]:
    """The connector's catalog (from its `discover`) configured as a sync reads it: incremental
    where the stream offers it, else full refresh."""
    done = subprocess.run(
        [str(executable), "discover", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("type") != "CATALOG":
            continue
        configured = []
        for stream in message["catalog"]["streams"]:
            if stream["name"] not in streams:
                continue
            incremental = "incremental" in stream.get("supported_sync_modes", [])
            configured.append(
                {
                    "stream": stream,
                    "sync_mode": "incremental" if incremental else "full_refresh",
                    "destination_sync_mode": "append_dedup" if incremental else "overwrite",
                    "cursor_field": stream.get("default_cursor_field") or [],
                    "primary_key": stream.get("source_defined_primary_key") or [],
                }
            )
        return {"streams": configured}
    raise BenchError(f"the connector's discover gave no catalog: {done.stderr[-800:]}")


def emit_seconds(executable: Path, config: Path, catalog: Path) -> float:
    """How long the connector takes to emit everything with its stdout going to /dev/null."""
    started = time.monotonic()
    done = subprocess.run(
        [str(executable), "read", "--config", str(config), "--catalog", str(catalog)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(f"the connector's read failed: {done.stderr.decode(errors='replace')[-800:]}")
    return seconds


def run(ctx: Context, rows: int) -> None:
    """Rounds of a sync through the API and the connector alone, alternating."""
    with running_stack(ctx.home, ctx.databases) as stack:
        api = ApiClient.login(stack.api_base, stack.admin.email, stack.admin.password)
        try:
            org = api.make_org(f"ingest-{uuid.uuid4().hex[:6]}")
            warehouse = ctx.databases.make("wh_ingest")
            api.postgres_warehouse(org, warehouse)
            connection = api.faker_connection(org, rows)
            executable = executable_path("source-faker", ctx.home / "connectors")
            work = ctx.work_dir("ingest")
            config, catalog = work / "config.json", work / "catalog.json"
            config.write_text(json.dumps(faker_config(rows)))
            catalog.write_text(
                json.dumps(configured_catalog(executable, config, ["users", "products", "purchases"]))
            )
            ours: list[float] = []
            walls: list[float] = []
            direct: list[float] = []
            records = 0
            for index in range(ctx.rounds):
                order = ("ours", "direct") if index % 2 == 0 else ("direct", "ours")
                for side in order:
                    say(f"ingest {rows} rows: round {index + 1}/{ctx.rounds}, {side}")
                    if side == "direct":
                        direct.append(emit_seconds(executable, config, catalog))
                        say(f"  connector alone {direct[-1]:.1f} s")
                        continue
                    reset_warehouse(warehouse)
                    triggered = time.time()
                    run_id = str(
                        api.call("POST", f"/orgs/{org}/connections/{connection}/sync", 202)["flow_run_id"]
                    )
                    detail = api.wait(org, run_id, SYNC_TIMEOUT_S, poll_s=0.5)
                    if detail["state"] not in SUCCEEDED:
                        raise BenchError(f"the sync ended {detail['state']}: {api.failure(org, run_id)}")
                    result = detail.get("result") or {}
                    records = int(result.get("records") or 0)
                    ours.append(float(result.get("duration_s") or 0.0))
                    walls.append((when(detail["end_time"]) or triggered) - triggered)
                    say(f"  sync {ours[-1]:.1f} s for {records} records (trigger to end {walls[-1]:.1f} s)")
        finally:
            api.close()
    ours_s, direct_s = median(ours), median(direct)
    rate_ours = round(records / ours_s) if ours_s else None
    rate_direct = round(records / direct_s) if direct_s else None
    rate_ratio = round(rate_ours / rate_direct, 3) if rate_ours and rate_direct else None
    result = Result(
        "ingest",
        f"sync {rows // 1000}K rows into Postgres",
        ours_s,
        direct_s,
        f"rate ratio >= {RATE_TARGET}",
        {
            "records": records,
            "records_per_s_ours": rate_ours,
            "records_per_s_direct": rate_direct,
            "rate_ratio": rate_ratio,
            "ours_rounds_s": [round(v, 2) for v in ours],
            "direct_rounds_s": [round(v, 2) for v in direct],
            "sync_trigger_to_end_s": median(walls),
        },
    )
    result.meets = rate_ratio is not None and rate_ratio >= RATE_TARGET
    ctx.report.add(result)
