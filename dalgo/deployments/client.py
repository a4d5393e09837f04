"""The Prefect client the API uses: the configured server, with its credential and a timeout on
every call.

Prefect's API demands a credential (Prefect's basic auth, `user:password`): the server checks
PREFECT_SERVER_API_AUTH_STRING, every client sends PREFECT_API_AUTH_STRING. The platform's
processes (API, worker, flow runs) hold it; tenant processes, which start from an allowlisted
environment (`dalgo.sandbox`), never do.

Making a client is not free: Prefect's client builds a TLS context from the CA bundle (tens of
milliseconds of CPU, on the event loop), opens a new connection and fetches a CSRF token before its
first POST. So the TLS context is made once per process, and `shared_prefect_client` keeps one
started client per event loop that concurrent requests share (httpx pools its connections).

Every call of these clients ends within `prefect_timeout_s`, Prefect's own retries included (its
client tries a failed call again up to PREFECT_CLIENT_MAX_RETRIES times, waiting 2, 4, 8, 16 and
32 seconds in between: two minutes before a stopped server is reported); past it the call raises
`PrefectUnavailableError`, which the API answers with 503.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import anyio
import certifi
import httpx
from prefect.client.orchestration import PrefectClient
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_API_SSL_CERT_FILE,
    PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
)

from dalgo.settings import Settings

AUTH_STRING_ENV = "PREFECT_API_AUTH_STRING"
SERVER_AUTH_STRING_ENV = "PREFECT_SERVER_API_AUTH_STRING"


class PrefectUnavailableError(RuntimeError):
    """Prefect cannot be reached; the message says why in plain words."""


def prefect_auth_string(settings: Settings) -> str | None:
    """Prefect's API credential: the platform's setting (PREFECT_API_AUTH_STRING), else what
    Prefect's own settings hold (a Prefect profile), else None (a server without auth)."""
    if settings.prefect_api_auth_string is not None:
        return settings.prefect_api_auth_string.get_secret_value() or None
    return PREFECT_API_AUTH_STRING.value() or None


def auth_headers(auth_string: str | None) -> dict[str, str]:
    """The header a raw HTTP call to Prefect's API sends (none without a credential)."""
    if not auth_string:
        return {}
    token = base64.b64encode(auth_string.encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {token}"}


@cache
def _tls_context(insecure: bool, cert_file: str) -> ssl.SSLContext:
    """The TLS context Prefect's client would build (its settings decide), made once per process."""
    context = ssl.create_default_context(cafile=cert_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _client_settings(settings: Settings) -> dict[str, Any]:
    """What every client of the platform's Prefect server is made with."""
    if not settings.prefect_api_url:
        raise PrefectUnavailableError("PREFECT_API_URL is not set, so Prefect cannot be reached.")
    insecure = bool(PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value())
    tls = _tls_context(insecure, PREFECT_API_SSL_CERT_FILE.value() or certifi.where())
    return {
        "api": settings.prefect_api_url,
        "auth_string": prefect_auth_string(settings),
        "httpx_settings": {"timeout": settings.prefect_timeout_s, "verify": tls},
    }


def _bounded(client: PrefectClient, timeout_s: float) -> PrefectClient:
    """The client, its every HTTP call (with the retries Prefect's client makes) ended after
    `timeout_s` with `PrefectUnavailableError`."""
    http = client._client
    send = http.send

    async def bounded_send(request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
        with anyio.move_on_after(timeout_s):
            return await send(request, *args, **kwargs)
        raise PrefectUnavailableError(
            f"The orchestration service (Prefect) did not answer within {timeout_s:g} s; try again shortly."
        )

    http.send = bounded_send  # type: ignore[method-assign]
    return client


def _new_client(settings: Settings) -> PrefectClient:
    return _bounded(PrefectClient(**_client_settings(settings)), settings.prefect_timeout_s)


@asynccontextmanager
async def prefect_client(settings: Settings) -> AsyncIterator[PrefectClient]:
    """A client of the Prefect server named by PREFECT_API_URL, sending its credential."""
    async with _new_client(settings) as client:
        yield client


_ClientKey = tuple[str, str | None, float]
_SHARED: dict[asyncio.AbstractEventLoop, dict[_ClientKey, PrefectClient]] = {}
"""The shared clients by event loop (a loop that has closed is forgotten with its clients)."""


async def shared_prefect_client(settings: Settings) -> PrefectClient:
    """A started client of the Prefect server named by PREFECT_API_URL, shared by everything that
    runs on this event loop with the same server, credential and timeout (a web server's requests),
    so that they reuse its connections. It stays open for the life of the loop; call
    `close_shared_prefect_clients` before the loop ends to close it."""
    made = _client_settings(settings)
    key = (made["api"], made["auth_string"], settings.prefect_timeout_s)
    for closed in [loop for loop in _SHARED if loop.is_closed()]:
        del _SHARED[closed]
    clients = _SHARED.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(key)
    if client is None:
        fresh = _new_client(settings)
        await fresh.__aenter__()
        client = clients.setdefault(key, fresh)
        if client is not fresh:
            await fresh.__aexit__(None, None, None)
    return client


async def close_shared_prefect_clients() -> None:
    """Close the clients `shared_prefect_client` made on this event loop."""
    clients = _SHARED.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.__aexit__(None, None, None)
