"""Is the API up, and can it reach its database and Prefect?"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from prefect.client.orchestration import PrefectClient
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool

from dalgo.api.deps import SettingsDep, get_engine
from dalgo.api.schemas.health import HealthPublic
from dalgo.deployments.client import prefect_auth_string
from dalgo.settings import Settings

router = APIRouter(tags=["health"])


def _check_database(engine: Engine) -> str:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001  (any failure is the answer)
        return f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    return "ok"


async def _check_prefect(settings: Settings) -> str:
    if not settings.prefect_api_url:
        return "error: PREFECT_API_URL is not set"
    try:
        with anyio.fail_after(settings.prefect_timeout_s):
            auth = prefect_auth_string(settings)
            async with PrefectClient(api=settings.prefect_api_url, auth_string=auth) as client:
                failure = await client.api_healthcheck()
    except TimeoutError:
        return f"error: no answer from {settings.prefect_api_url} within {settings.prefect_timeout_s:g} s"
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}: {exc}"
    return "ok" if failure is None else f"error: {type(failure).__name__}: {failure}"


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "A dependency is down."}},
)
async def health(settings: SettingsDep, engine: Annotated[Engine, Depends(get_engine)]) -> JSONResponse:
    """`ok` for each part that works, or the error; 503 when the database or Prefect is down."""
    database = await run_in_threadpool(_check_database, engine)
    prefect = await _check_prefect(settings)
    body = HealthPublic(api="ok", database=database, prefect=prefect)
    code = 200 if database == "ok" and prefect == "ok" else 503
    return JSONResponse(status_code=code, content=body.model_dump())
