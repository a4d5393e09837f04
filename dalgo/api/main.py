"""The FastAPI application: `create_app()` wires settings, database, mail and the routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import exc as sqlalchemy_errors
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from dalgo.api.audit import AuditMiddleware
from dalgo.api.bodylimit import BodySizeLimitMiddleware
from dalgo.api.query_errors import readable_query_errors
from dalgo.api.ratelimit import ManualRunLimiter, SignInLimiter
from dalgo.api.routes import (
    audit_log,
    auth,
    connections,
    dbt,
    health,
    ingestion,
    invitations,
    locks,
    me,
    members,
    notifications,
    org_execution,
    orgs,
    pipelines,
    roles,
    runs,
    sources,
    warehouse,
)
from dalgo.api.web import mount_dashboard
from dalgo.db.engine import make_engine, migrate
from dalgo.deployments.client import PrefectUnavailableError
from dalgo.ingestion.airbyte_server import AirbyteServerError
from dalgo.mail import mailer_from_settings
from dalgo.sandbox import warn_if_off
from dalgo.settings import Settings, get_settings

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", f"{API_PREFIX}/auth/login"),
        ("POST", f"{API_PREFIX}/auth/password-reset"),
        ("POST", f"{API_PREFIX}/auth/password-reset/confirm"),
        ("POST", f"{API_PREFIX}/invitations/accept"),
        ("GET", f"{API_PREFIX}/health"),
    }
)
"""Routes anyone may call without signing in; every other route declares its access."""

_PLAIN_ERRORS = {
    404: "There is nothing at this address.",
    405: "This address does not take that method.",
}


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (auth, me, roles, health, orgs, members, runs, warehouse, sources, connections, dbt):
        router.include_router(module.router)
    router.include_router(sources.definitions_router)
    router.include_router(ingestion.router)
    router.include_router(invitations.org_router)
    router.include_router(invitations.router)
    router.include_router(notifications.router)
    router.include_router(pipelines.router)
    router.include_router(locks.router)
    router.include_router(org_execution.router)
    router.include_router(audit_log.router)
    return router


DATABASE_UNAVAILABLE = "The platform's database did not answer; try again shortly."

_DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy_errors.OperationalError,
    sqlalchemy_errors.InterfaceError,
    sqlalchemy_errors.TimeoutError,
)
"""What SQLAlchemy raises when the API database is down, unreachable or out of connections (not
when a statement is wrong: that stays a 500)."""


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 for a database that did not answer; the log names the driver's reason, never the
    statement or its parameters."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    log.error(
        "the API database did not answer (%s %s): %s: %s",
        request.method,
        request.url.path,
        type(cause).__name__,
        lines[0] if lines else "",
    )
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE, content={"detail": DATABASE_UNAVAILABLE}
    )


def _operation_id(route: APIRoute) -> str:
    """A route's OpenAPI operation id: its handler's name."""
    return route.name


def _declare_sentence_422s(app: FastAPI) -> None:
    """Declare in `/openapi.json` what a 422 really holds: `detail` is FastAPI's list of
    `{loc, msg, type}` for a bad body, and a sentence for bad query parameters
    (`dalgo.api.query_errors`) or a value the route itself refuses."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            error = document.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if error is not None:
                listed = error["properties"]["detail"]
                error["properties"]["detail"] = {
                    "anyOf": [{"type": "string"}, {k: v for k, v in listed.items() if k != "title"}],
                    "title": listed.get("title", "Detail"),
                }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The web API. Migrations are applied and roles seeded when it starts."""
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url, settings.database_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(migrate, engine)
        yield
        engine.dispose()

    app = FastAPI(
        title="Dalgo",
        summary="A Prefect-first, multi-tenant data platform for NGOs.",
        version="0.1.0",
        lifespan=lifespan,
        # Operation ids are the handlers' names (unique across the API), so the dashboard's
        # generated client reads `listRuns`, not `listRunsApiV1OrgsOrgRunsGet`.
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    warn_if_off(settings, log)
    app.state.engine = engine
    app.state.mailer = mailer_from_settings(settings)
    app.state.sign_in_limiter = SignInLimiter.from_settings(settings)
    app.state.manual_run_limiter = ManualRunLimiter.from_settings(settings)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(AuditMiddleware, prefix=API_PREFIX)
    app.add_exception_handler(RequestValidationError, readable_query_errors)
    app.include_router(api_router())

    @app.exception_handler(StarletteHTTPException)
    async def plain_http_errors(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if detail in ("Not Found", "Method Not Allowed"):
            detail = _PLAIN_ERRORS.get(exc.status_code, detail)
        return JSONResponse(
            status_code=exc.status_code, content={"detail": detail}, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(PrefectUnavailableError)
    async def prefect_unavailable(request: Request, exc: PrefectUnavailableError) -> JSONResponse:
        log.error("Prefect is unavailable (%s %s): %s", request.method, request.url.path, exc)
        return JSONResponse(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, content={"detail": str(exc)})

    @app.exception_handler(AirbyteServerError)
    async def airbyte_server_refused(request: Request, exc: AirbyteServerError) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_502_BAD_GATEWAY, content={"detail": str(exc)})

    @app.exception_handler(httpx.HTTPError)
    async def prefect_unreachable(request: Request, exc: httpx.HTTPError) -> JSONResponse:
        log.error("a call to Prefect failed: %r", exc)
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"detail": "The orchestration service (Prefect) did not answer; try again shortly."},
        )

    for database_error in _DATABASE_UNAVAILABLE:
        app.add_exception_handler(database_error, database_unavailable)

    _declare_sentence_422s(app)
    mount_dashboard(app)
    return app


__all__ = ["API_PREFIX", "PUBLIC_ROUTES", "create_app", "status"]
