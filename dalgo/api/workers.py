"""The API served by several processes on one machine (uvicorn `--workers`).

Each process is the same stateless app (`create_app`); what they share lives in the API database,
Prefect and DALGO_HOME. Two things differ from one process: the abuse limits (sign-in attempts,
runs started by hand) are counted in each process, so N processes allow up to N times as many; and
every process applies the migrations and seeds the roles when it starts, which must not happen in
two processes at once (both would create the same tables, or insert the same role permissions).
So here each process starts the app under an exclusive lock on a file in DALGO_HOME: the first
migrates, the others find the schema current and only re-seed, one after another.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from dalgo.settings import Settings, get_settings

WORKER_APP = "dalgo.api.workers:create_worker_app"
"""The factory uvicorn runs in each API process (with `--factory`)."""

MAX_DEFAULT_WORKERS = 4
START_LOCK = "api-start.lock"
HEALTHCHECK_TIMEOUT_S = 60
"""How long uvicorn waits for a busy API process to answer its health check before replacing it
(uvicorn's default, 5 s, replaces processes that are merely slow to import on a loaded machine)."""


def api_workers(settings: Settings) -> int:
    """How many API processes to run: DALGO_API_WORKERS, else one per CPU (at most 4) with the API
    on Postgres, else one (SQLite takes one writer at a time)."""
    if settings.api_workers is not None:
        return settings.api_workers
    if not settings.database_url:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def uvicorn_options(settings: Settings) -> list[str]:
    """uvicorn's options for the API's processes: the app factory, how many, and the health check."""
    workers = ["--workers", str(api_workers(settings))]
    return [WORKER_APP, "--factory", *workers, "--timeout-worker-healthcheck", str(HEALTHCHECK_TIMEOUT_S)]


def _lock(path: str) -> int:
    """Wait for the exclusive lock on the file; its descriptor."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def create_worker_app(settings: Settings | None = None) -> FastAPI:
    """The app of one API process: `create_app`, whose start (migrations, role seeding) runs while
    holding DALGO_HOME/api-start.lock, so that processes starting together take turns."""
    from dalgo.api.main import create_app  # here, so that the stack's supervisor imports no routes

    settings = settings or get_settings()
    app = create_app(settings)
    start = app.router.lifespan_context
    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    lock_path = str(settings.resolved_home / START_LOCK)

    @asynccontextmanager
    async def one_start_at_a_time(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            fd = await run_in_threadpool(_lock, lock_path)
            try:
                await stack.enter_async_context(start(app))
            finally:
                _unlock(fd)
            yield

    app.router.lifespan_context = one_start_at_a_time
    return app
