"""The Prefect client the API uses: the configured server, with its credential and a timeout on
every call.

Prefect's API demands a credential (Prefect's basic auth, `user:password`): the server checks
PREFECT_SERVER_API_AUTH_STRING, every client sends PREFECT_API_AUTH_STRING. The platform's
processes (API, worker, flow runs) hold it; tenant processes, which start from an allowlisted
environment (`dalgo.sandbox`), never do.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prefect.client.orchestration import PrefectClient
from prefect.settings import PREFECT_API_AUTH_STRING

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


@asynccontextmanager
async def prefect_client(settings: Settings) -> AsyncIterator[PrefectClient]:
    """A client of the Prefect server named by PREFECT_API_URL, sending its credential."""
    if not settings.prefect_api_url:
        raise PrefectUnavailableError("PREFECT_API_URL is not set, so Prefect cannot be reached.")
    async with PrefectClient(
        api=settings.prefect_api_url,
        auth_string=prefect_auth_string(settings),
        httpx_settings={"timeout": settings.prefect_timeout_s},
    ) as client:
        yield client
