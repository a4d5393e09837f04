"""What the fault tests share: an API app of their own (its settings pointing through a proxy) and
the timed calls they check it with."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from dalgo.api.main import create_app
from dalgo.settings import Settings
from tests.secret_scan import ResponseRecorder

ANSWER_BOUND_S = 10.0
"""The longest a route may take to answer while a dependency is gone."""


@contextmanager
def own_api(settings: Settings, recorder: ResponseRecorder) -> Iterator[TestClient]:
    """The API in-process with these settings (migrated at start), its answers recorded for the
    session's secret scan."""
    with TestClient(create_app(settings)) as client:
        client.event_hooks = {"request": [], "response": [recorder]}
        yield client


@dataclass(frozen=True)
class Call:
    """One request the fault tests make: who makes it, to what, with which body."""

    method: str
    path: str
    headers: dict[str, str] | None = None
    body: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def timed(client: TestClient, call: Call) -> tuple[httpx.Response, float]:
    """The answer to the call and the seconds it took."""
    started = time.monotonic()
    response = client.request(call.method, call.path, headers=call.headers, json=call.body)
    return response, time.monotonic() - started


def answers(client: TestClient, calls: list[Call]) -> dict[str, int]:
    """Each call's status code, by the call's method and path, made one after the other."""
    return {str(call): timed(client, call)[0].status_code for call in calls}
