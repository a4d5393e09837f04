"""The audit log's recorder: one ASGI middleware writes an entry for every mutating request.

Every POST, PUT, PATCH and DELETE under /api/v1 that reached a route is recorded once its answer
has gone out: who (the user behind the bearer token), in which org (the `{org}` in the path, or the
org a request created or joined), what (the route's name, e.g. `run_pipeline`, and the method),
to which object (its type from the path, its id from the path or, for a created object, from the
answer), the outcome (the HTTP status) and when (the time the request arrived), with the request's
id and the client's address. No route module has to do anything for it.

What is never recorded: request bodies, answers and secrets. Of a body only the names of the
fields it set are kept, and only names that its route's schema declares (so a client cannot smuggle
text into the log as a field name); of an answer only a created object's `id` and a started run's
`flow_run_id`.

Left out on purpose: requests without a valid token (401) to routes that need one, and the sign-in
routes, whose failures `dalgo.api.routes.auth` records itself with the reason (`sign_in_failed`).
A request by someone who is not a member of the org in its path (a 404) is kept without the org.

Each request gets an id: the client's `X-Request-ID` when it is a plain token of up to 64
characters, or a new one; it is sent back in the answer's `X-Request-ID` header and is what the
entry's `request_id` holds, so a complaint can be matched to its entry and the API's logs.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import types
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, Request
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dalgo.api.security import digest
from dalgo.db.columns import utcnow
from dalgo.db.models import ApiToken, AuditEntry, Invitation, Membership, Org, User

log = logging.getLogger(__name__)

AUDITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGN_IN_FAILED = "sign_in_failed"
PASSWORD_RESET = "password_reset"  # noqa: S105 (an action name)

SELF_RECORDED_ROUTES = frozenset({"login", "request_password_reset", "confirm_password_reset"})
"""Routes whose events `dalgo.api.routes.auth` records itself (with what only it knows)."""

UNSIGNED_ROUTES = frozenset({"accept_invitation"})
"""Mutating routes anyone may call: recorded even when the caller has no token (an accepted
invitation under the account its code led to)."""

_CAPTURE_BYTES = 64 * 1024
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_OBJECT_TYPES = {
    "auth": "session",
    "dbt": "dbt_workspace",
    "ingestion-engine": "ingestion_engine",
    "execution": "org_execution",
    "preferences": "preferences",
}
"""Path segments whose object type is not simply the segment made singular."""


def new_request_id(headers: dict[str, str]) -> str:
    """The client's X-Request-ID when it is a plain token, else a new random one."""
    given = headers.get("x-request-id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def request_id(request: Request) -> str | None:
    """The id the audit middleware gave this request."""
    found: str | None = getattr(request.state, "request_id", None)
    return found


RequestId = Annotated[str | None, Depends(request_id)]


def object_of(template: str, path_params: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    """The org slug, object type and object id a route's full path template names.

    `/api/v1/orgs/{org}/connections/{connection_id}/sync` names org `{org}` and the connection
    `{connection_id}`; `/api/v1/orgs/{org}/warehouse/check` the warehouse; `/api/v1/orgs/{org}`
    the org itself."""
    segments = [s for s in template.split("/") if s][2:]  # past "api", "v1"
    org: str | None = None
    if "{org}" in segments:
        org = path_params.get("org")
        segments = segments[segments.index("{org}") + 1 :]
        if not segments:
            return org, "org", org
    if segments and segments[0] in ("me", "platform"):
        segments = segments[1:]
    object_type: str | None = None
    object_id: str | None = None
    for before, segment in itertools.pairwise(segments):
        if segment.startswith("{") and not before.startswith("{"):
            object_type, object_id = _type_name(before), path_params.get(segment.strip("{}"))
    if object_type is None and segments:
        object_type = _type_name(segments[0])
    return org, object_type, object_id


def _type_name(segment: str) -> str:
    if segment in _OBJECT_TYPES:
        return _OBJECT_TYPES[segment]
    return segment.removesuffix("s").replace("-", "_")


def body_field_names(route: APIRoute) -> frozenset[str]:
    """The field names (and aliases) the route's request body may set, from its schema."""
    body = route.body_field
    if body is None:
        return frozenset()
    names: set[str] = set()
    pending: list[Any] = [body.field_info.annotation]
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, info in annotation.model_fields.items():
                names.add(name)
                if info.alias:
                    names.add(info.alias)
        elif get_origin(annotation) in (Union, types.UnionType, Annotated):
            pending.extend(get_args(annotation))
    return frozenset(names)


@dataclass
class _Exchange:
    """What the middleware saw of one request and its answer."""

    started_at: datetime
    request_id: str
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)
    body_complete: bool = True
    status: int = 500
    response_json: bool = False
    response: bytearray = field(default_factory=bytearray)


class AuditMiddleware:
    """Gives every request an id and records each mutating API request in the audit log."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self._templates: dict[int, str] | None = None

    def _template_of(self, scope: Scope, route: APIRoute) -> str:
        if self._templates is None:
            self._templates = {
                id(context.original_route): context.path or ""
                for context in iter_route_contexts(scope["app"].routes)
            }
        return self._templates.get(id(route), route.path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        exchange = _Exchange(started_at=utcnow(), request_id=new_request_id(headers), headers=headers)
        scope.setdefault("state", {})["request_id"] = exchange.request_id
        audited = scope["method"] in AUDITED_METHODS and scope["path"].startswith(self.prefix + "/")

        async def capturing_receive() -> Message:
            message = await receive()
            if audited and message["type"] == "http.request":
                chunk = message.get("body", b"")
                if len(exchange.body) + len(chunk) <= _CAPTURE_BYTES:
                    exchange.body.extend(chunk)
                else:
                    exchange.body_complete = False
            return message

        async def capturing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = int(message["status"])
                response_headers = list(message.get("headers", []))
                response_headers.append((b"x-request-id", exchange.request_id.encode()))
                message = {**message, "headers": response_headers}
                exchange.response_json = any(
                    k.lower() == b"content-type" and v.startswith(b"application/json")
                    for k, v in response_headers
                )
            elif message["type"] == "http.response.body" and audited and exchange.response_json:
                chunk = message.get("body", b"")
                if len(exchange.response) + len(chunk) <= _CAPTURE_BYTES:
                    exchange.response.extend(chunk)
            await send(message)

        try:
            await self.app(scope, capturing_receive, capturing_send)
        except Exception:
            exchange.status = 500
            raise
        finally:
            route = scope.get("route")
            if audited and isinstance(route, APIRoute) and route.name not in SELF_RECORDED_ROUTES:
                try:
                    await run_in_threadpool(self._record, scope, route, exchange)
                except Exception:
                    log.exception("the audit entry of request %s was not written", exchange.request_id)

    def _record(self, scope: Scope, route: APIRoute, exchange: _Exchange) -> None:
        engine: Engine = scope["app"].state.engine
        path_params: dict[str, str] = {k: str(v) for k, v in scope.get("path_params", {}).items()}
        answer = _json_object(exchange.response)
        org_slug, object_type, object_id = object_of(self._template_of(scope, route), path_params)
        if object_id is None and 200 <= exchange.status < 300 and isinstance(answer.get("id"), str | int):
            object_id = str(answer["id"])
        if org_slug is None and 200 <= exchange.status < 300:
            created = answer.get("slug") if object_type == "org" else answer.get("org")
            org_slug = created if isinstance(created, str) else None
            if object_type == "org":
                object_id = org_slug
        details: dict[str, Any] = {}
        sent = _json_object(exchange.body) if exchange.body_complete else {}
        fields = sorted(set(sent) & body_field_names(route))
        if fields:
            details["fields"] = fields
        if isinstance(answer.get("flow_run_id"), str):
            details["flow_run_id"] = answer["flow_run_id"]
        with Session(engine) as session:
            if exchange.status == 401:
                return
            actor = _token_user(session, exchange.headers.get("authorization", ""))
            if actor is None and route.name == "accept_invitation" and exchange.status < 400:
                actor = _invited_user(session, sent.get("code"))
            if actor is None and route.name not in UNSIGNED_ROUTES:
                return
            org = self._org(session, org_slug, actor, exchange.status)
            session.add(
                AuditEntry(
                    created_at=exchange.started_at,
                    org_id=org.id if org else None,
                    org_slug=org.slug if org else None,
                    actor_id=actor.id if actor else None,
                    actor_email=actor.email if actor else None,
                    action=route.name,
                    method=scope["method"],
                    path=scope["path"][:500],
                    object_type=object_type,
                    object_id=object_id[:200] if object_id else None,
                    status_code=exchange.status,
                    request_id=exchange.request_id,
                    client_address=_client(scope),
                    details=json.dumps(details) if details else None,
                )
            )
            session.commit()

    @staticmethod
    def _org(session: Session, slug: str | None, actor: User | None, status: int) -> Org | None:
        """The org the entry belongs to: the one named, when the request succeeded or came from
        one of its members (a stranger's refused attempt reveals nothing to the org)."""
        if slug is None:
            return None
        org = session.exec(select(Org).where(Org.slug == slug)).first()
        if org is None or status < 400:
            return org
        if actor is None:
            return None
        member = session.exec(
            select(Membership.id).where(Membership.org_id == org.id, Membership.user_id == actor.id)
        ).first()
        return org if member is not None else None


def _token_user(session: Session, authorization: str) -> User | None:
    """The user a bearer token was issued to (even one the request just revoked, as logout does)."""
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return session.exec(
        select(User)
        .join(ApiToken, col(ApiToken.user_id) == col(User.id))
        .where(ApiToken.token_hash == digest(secret.strip()))
    ).first()


def _invited_user(session: Session, code: object) -> User | None:
    """The account an accepted invitation's code led to (the code itself is never kept)."""
    if not isinstance(code, str) or not code:
        return None
    return session.exec(
        select(User)
        .join(Invitation, col(Invitation.email) == col(User.email))
        .where(Invitation.code_hash == digest(code))
    ).first()


def _json_object(raw: bytearray) -> dict[str, Any]:
    try:
        parsed = json.loads(bytes(raw)) if raw else None
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0])[:64] if client else None


def record_event(
    session: Session,
    *,
    action: str,
    status_code: int,
    request: Request,
    user: User | None = None,
    email: str | None = None,
    reason: str | None = None,
) -> None:
    """Record an event a route knows more about than the middleware (a failed sign-in and why,
    a password reset); commits the session. Never pass a secret: `reason` is a fixed phrase."""
    session.add(
        AuditEntry(
            actor_id=user.id if user else None,
            actor_email=(user.email if user else email or "")[:320] or None,
            action=action,
            method=request.method,
            path=request.url.path[:500],
            object_type="user" if user else None,
            object_id=str(user.id) if user else None,
            status_code=status_code,
            request_id=request_id(request),
            client_address=request.client.host[:64] if request.client else None,
            details=json.dumps({"reason": reason}) if reason else None,
        )
    )
    session.commit()
