"""The logs of an org's run read through `org_run_logs` from the session's Prefect server, counting
the requests that reach Prefect."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import LogCreate
from prefect.states import Completed, Running

from dalgo.deployments import run_logs
from dalgo.deployments.client import prefect_client
from dalgo.deployments.run_logs import org_run_logs
from dalgo.naming import org_tag
from dalgo.settings import Settings

SETTLE_S = 5.0


@flow(name="dalgo-test-logged")
def logged() -> None:
    """Never run: the flow the test's runs are made for."""


def line(run_id: uuid.UUID, message: str) -> LogCreate:
    return LogCreate(
        name="dalgo.test", level=20, message=message, timestamp=datetime.now(UTC), flow_run_id=run_id
    )


async def ended_run(client: PrefectClient, org: str) -> uuid.UUID:
    """A run of the org with two log lines, ended now (Prefect's end time is the server's now)."""
    run = await client.create_flow_run(logged, tags=[org_tag(org)], state=Running())
    await client.create_logs([line(run.id, "first"), line(run.id, "second")])
    await client.set_flow_run_state(run.id, Completed(), force=True)
    return run.id


def messages(page: tuple[list, int | None] | None) -> list[str]:  # type: ignore[type-arg]
    assert page is not None
    return [entry.message for entry in page[0]]


def test_a_settled_runs_log_pages_are_read_from_prefect_once_and_a_recent_runs_every_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that ended longer ago than the settling time: its page is read from Prefect once,
    then kept (another org still gets nothing). A run that ended just now: each read asks Prefect,
    so a line that arrives after the run's end shows on the next read. Prefect sets a run's end
    time itself, so the settling time is shortened to a few seconds and the test lets them pass."""
    monkeypatch.setattr(run_logs, "SETTLED_AFTER_S", SETTLE_S)
    org = f"logs-{uuid.uuid4().hex[:6]}"

    async def main() -> dict[str, object]:
        async with prefect_client(settings) as client:
            asked: list[str] = []

            async def count(request: httpx.Request) -> None:
                asked.append(request.url.path)

            client._client.event_hooks["request"].append(count)
            settled = await ended_run(client, org)
            await asyncio.sleep(SETTLE_S + 0.5)
            recent = await ended_run(client, org)

            first = await org_run_logs(client, org, settled, 0, 200, None)
            asked.clear()
            kept = await org_run_logs(client, org, settled, 0, 200, None)
            asked_for_kept = list(asked)
            other_org = await org_run_logs(client, f"{org}-other", settled, 0, 200, None)

            before = await org_run_logs(client, org, recent, 0, 200, None)
            await org_run_logs(client, org, recent, 0, 200, None)
            await client.create_logs([line(recent, "late")])
            asked.clear()
            after = await org_run_logs(client, org, recent, 0, 200, None)
            return {
                "first": messages(first),
                "kept": messages(kept),
                "asked_for_kept": asked_for_kept,
                "other_org": other_org,
                "before": messages(before),
                "after": messages(after),
                "asked_for_recent": list(asked),
            }

    seen = asyncio.run(main())
    assert seen["first"] == ["first", "second"]
    assert seen["kept"] == seen["first"]
    assert seen["asked_for_kept"] == []
    assert seen["other_org"] is None
    assert seen["before"] == ["first", "second"]
    assert seen["after"] == ["first", "second", "late"]
    assert seen["asked_for_recent"] == ["/api/logs/filter"]
