"""Flow runs of an org: waited for through the API, and read back from Prefect."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi.testclient import TestClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags, LogFilter, LogFilterFlowRunId

from dalgo.deployments.client import prefect_client
from dalgo.naming import org_tag
from dalgo.settings import Settings


def wait_for_run(
    client: TestClient, org: str, run_id: str, headers: dict[str, str], timeout_s: float = 120
) -> dict[str, object]:
    """Poll the run through the API until it has ended; its detail."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/api/v1/orgs/{org}/runs/{run_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        if body["state"] in ("completed", "completed_with_warnings", "failed", "crashed", "cancelled"):
            return body
        assert time.monotonic() < deadline, f"run {run_id} still {body['state']} after {timeout_s} s"
        time.sleep(0.5)


def org_run_parameters_and_logs(settings: Settings, org: str) -> tuple[str, str]:
    """The parameters of every run of the org (as JSON) and every log line of them, from Prefect."""

    async def read() -> tuple[str, str]:
        async with prefect_client(settings) as prefect:
            runs = await prefect.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[org_tag(org)]))
            )
            logs = await prefect.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[r.id for r in runs]))
            )
            return json.dumps([r.parameters for r in runs]), "\n".join(log.message for log in logs)

    return asyncio.run(read())
