"""The Prefect client the API uses: the configured server, with a timeout on every call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prefect.client.orchestration import PrefectClient

from dalgo.settings import Settings


class PrefectUnavailableError(RuntimeError):
    """Prefect cannot be reached; the message says why in plain words."""


@asynccontextmanager
async def prefect_client(settings: Settings) -> AsyncIterator[PrefectClient]:
    """A client of the Prefect server named by PREFECT_API_URL."""
    if not settings.prefect_api_url:
        raise PrefectUnavailableError("PREFECT_API_URL is not set, so Prefect cannot be reached.")
    async with PrefectClient(
        api=settings.prefect_api_url, httpx_settings={"timeout": settings.prefect_timeout_s}
    ) as client:
        yield client
