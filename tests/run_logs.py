"""Reading a run's log lines and steps through the web API, the way the dashboard does.

A flow-run process ships its last log lines in a batch shortly after the run reaches its final
state, and Prefect records task runs from their events a moment later too; so a test that asserts
on them waits for the line or step it expects instead of reading once.
"""

from __future__ import annotations

import time
from typing import Protocol

LOG_ARRIVAL_TIMEOUT_S = 30.0


class _Response(Protocol):
    status_code: int
    text: str

    def json(self) -> dict[str, object]: ...


class _Client(Protocol):
    def get(self, url: str, *, headers: dict[str, str]) -> _Response: ...


def log_messages(client: _Client, org_slug: str, run_id: str, headers: dict[str, str]) -> list[str]:
    """Every log message of the run, oldest first, page by page."""
    messages: list[str] = []
    offset: object = 0
    while offset is not None:
        address = f"/api/v1/orgs/{org_slug}/runs/{run_id}/logs?limit=200&offset={offset}"
        page = client.get(address, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        data = body["data"]
        assert isinstance(data, list)
        messages += [str(line["message"]) for line in data]
        offset = body["next_offset"]
    return messages


def log_messages_once_there(
    client: _Client,
    org_slug: str,
    run_id: str,
    headers: dict[str, str],
    awaited: str,
    timeout_s: float = LOG_ARRIVAL_TIMEOUT_S,
) -> list[str]:
    """The run's log messages once one containing `awaited` has arrived; fails with what did
    arrive when it has not within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        messages = log_messages(client, org_slug, run_id, headers)
        if any(awaited in message for message in messages):
            return messages
        arrived = "\n".join(messages)
        assert time.monotonic() < deadline, f"no line with {awaited!r} in {timeout_s:.0f} s:\n{arrived}"
        time.sleep(0.5)


def run_detail_with_step(
    client: _Client,
    org_slug: str,
    run_id: str,
    headers: dict[str, str],
    step_name: str,
    timeout_s: float = LOG_ARRIVAL_TIMEOUT_S,
) -> dict[str, object]:
    """The run's detail once its steps include one named `step_name`."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/api/v1/orgs/{org_slug}/runs/{run_id}", headers=headers)
        assert response.status_code == 200, response.text
        detail = response.json()
        steps = detail["steps"]
        assert isinstance(steps, list)
        names = [str(step["name"]) for step in steps]
        if step_name in names:
            return detail
        assert time.monotonic() < deadline, f"no step {step_name!r} in {timeout_s:.0f} s: {names}"
        time.sleep(0.5)
