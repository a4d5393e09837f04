"""Readable answers for bad query parameters, above all a list's `limit` over its cap.

Every list's `limit` is declared with its bounds (`Query(ge=1, le=<cap>)`), so `/openapi.json`
shows each cap as the parameter's `maximum`. A value outside them answers 422 as FastAPI does, but
with `detail` a sentence instead of FastAPI's list of `{loc, msg, type}`:
"`limit` may be at most 200; ask for the next page with `offset`." Errors in a request's body keep
FastAPI's form (docs/api.md, Errors) without the value each error is about: FastAPI echoes it as
`input`, and that value can be a secret (a password that is too long) or a whole body holding one
(a warehouse with a field missing: its password with it).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response


def sentence(error: dict[str, Any]) -> str:
    """One query parameter's error as a sentence."""
    name = str(error["loc"][-1])
    context = error.get("ctx") or {}
    paging = "; ask for the next page with `offset`" if name == "limit" else ""
    if error["type"] == "less_than_equal":
        return f"`{name}` may be at most {context['le']}{paging}."
    if error["type"] == "greater_than_equal":
        return f"`{name}` must be at least {context['ge']}."
    message = str(error.get("msg", "is not valid")).rstrip(".")
    return f"`{name}`: {message[:1].lower()}{message[1:]}."


def without_input(error: dict[str, Any]) -> dict[str, Any]:
    """A body error as FastAPI words it (`loc`, `msg`, `type`, `ctx`), without the value it was about."""
    return {key: value for key, value in error.items() if key != "input"}


async def readable_query_errors(request: Request, exc: Exception) -> Response:
    """422 with a sentence when only query parameters are wrong; FastAPI's list of errors
    otherwise, without the values that were sent."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if errors and all(error["loc"] and error["loc"][0] == "query" for error in errors):
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": " ".join(sentence(error) for error in errors)},
        )
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": jsonable_encoder([without_input(error) for error in errors])},
    )
