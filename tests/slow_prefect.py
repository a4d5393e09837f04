"""A Prefect API that answers some requests late: a proxy in front of the session's real Prefect
server that holds back the answer to every request whose path contains a given piece, as a busy
server does. Used to show what a client that gives up early on such a request leaves behind."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.network import free_port

HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def _app(upstream: str, slow_path: str, delay_s: float) -> Starlette:
    async def forward(request: Request) -> Response:
        path = request.url.path
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.request(
                request.method,
                upstream + path,
                params=request.query_params,
                content=await request.body(),
                headers={k: v for k, v in request.headers.items() if k.lower() not in {"host"}},
            )
        if slow_path in path:
            await asyncio.sleep(delay_s)
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
        return Response(answer.content, status_code=answer.status_code, headers=headers)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


@contextmanager
def slow_prefect(upstream_api_url: str, slow_path: str, delay_s: float) -> Iterator[str]:
    """Serve the proxy on a free port; yields its API URL (ending in /api, like the upstream's)."""
    origin = upstream_api_url.removesuffix("/api")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(origin, slow_path, delay_s), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the slow Prefect proxy did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/api"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
