"""The demo's HTTP client of the web API, and the mails it reads from the local outbox."""

from __future__ import annotations

import re
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx

from dalgo.stack import StopRequestedError

DEFAULT_TIMEOUT_S = 120.0
UNAVAILABLE_RETRY_S = 180.0
CODE_LINE = re.compile(r"Or give this code to the API: (\S+)")


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why in a sentence."""


class Api:
    """One caller of the web API (`/api/v1`), signed in or not."""

    def __init__(self, base: str, stop: threading.Event) -> None:
        self.http = httpx.Client(base_url=f"{base}/api/v1", timeout=DEFAULT_TIMEOUT_S)
        self.stop = stop

    def close(self) -> None:
        self.http.close()

    def login(self, email: str, password: str) -> bool:
        """Sign in; False for a wrong email or password."""
        response = self.call("POST", "/auth/login", {200, 401}, json={"email": email, "password": password})
        if response.status_code == 401:
            return False
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return True

    def call(
        self,
        method: str,
        path: str,
        expect: set[int],
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        """Make one request; DemoError (with the API's `detail`) for an answer not in `expect`.

        A GET that answers 503 or does not answer in time (Prefect busy or restarting; on SQLite
        it can stall for a minute or two under load) is tried again for up to `UNAVAILABLE_RETRY_S`.
        """
        deadline = time.monotonic() + UNAVAILABLE_RETRY_S
        while True:
            if self.stop.is_set():
                raise StopRequestedError
            try:
                response = self.http.request(
                    method, path, json=json, params=params, timeout=timeout_s or DEFAULT_TIMEOUT_S
                )
            except httpx.TimeoutException as error:
                if method != "GET" or time.monotonic() > deadline:
                    raise DemoError(f"{method} {path} did not answer: {error}") from error
                continue
            except httpx.HTTPError as error:
                raise DemoError(f"{method} {path} did not answer: {error}") from error
            retry = method == "GET" and response.status_code == 503 and 503 not in expect
            if not retry or time.monotonic() > deadline:
                break
            self.pause(2.0)
        if response.status_code not in expect:
            raise DemoError(f"{method} {path} answered {response.status_code}: {_detail(response)}")
        return response

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.call("GET", path, {200}, params=params).json()

    def pause(self, seconds: float) -> None:
        """Wait a little; StopRequestedError when Ctrl-C came meanwhile."""
        if self.stop.wait(seconds):
            raise StopRequestedError


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return detail if isinstance(detail, str) else str(detail)[:300]


def mailed_code(outbox: Path, to: str, since: float, timeout_s: float = 30.0) -> str:
    """The one-time code in the newest mail to `to` written to the outbox after `since` (a
    time.time()), waiting for it up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            if path.stat().st_mtime < since - 1:
                break
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if str(message["To"]).lower() != to.lower():
                continue
            found = CODE_LINE.search(str(message.get_body(("plain",)).get_content()))  # type: ignore[union-attr]
            if found:
                return found[1]
        if time.monotonic() > deadline:
            raise DemoError(f"No mail to {to} with a code arrived in {outbox}.")
        time.sleep(0.5)
