"""FastAPI dependencies: the database session, the caller, their org membership and permissions.

Every route declares its access through one of these, never by an ad hoc check in its handler:
`CurrentUser` (any signed-in user), `PlatformAdmin`, or `require("<permission slug>")` for the
org-scoped routes under /api/v1/orgs/{org}/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prefect.client.orchestration import PrefectClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dalgo.api.security import digest
from dalgo.db.columns import utcnow
from dalgo.db.models import ApiToken, Membership, Org, Role, RolePermission, User
from dalgo.db.roles import role_matrix
from dalgo.deployments.client import prefect_client
from dalgo.mail import Mailer
from dalgo.settings import Settings


def get_settings(request: Request) -> Settings:
    """The settings the app was made with."""
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One database session per request."""
    with Session(engine) as session:
        yield session


def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_prefect(settings: SettingsDep) -> AsyncIterator[PrefectClient]:
    """A Prefect client for the length of a request."""
    async with prefect_client(settings) as client:
        yield client


PrefectDep = Annotated[PrefectClient, Depends(get_prefect)]
SessionDep = Annotated[Session, Depends(get_session)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]

_bearer = HTTPBearer(auto_error=False, description="The access_token from POST /api/v1/auth/login.")

NOT_SIGNED_IN = "Sign in first: this request needs a valid bearer token."


@dataclass(frozen=True)
class Caller:
    """The signed-in user and the token they used."""

    user: User
    token: ApiToken


def current_caller(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller behind the bearer token; 401 for a missing, unknown, expired or revoked token."""
    unauthorized = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=NOT_SIGNED_IN,
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None or not credentials.credentials:
        raise unauthorized
    row = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(ApiToken.token_hash == digest(credentials.credentials))
    ).first()
    if row is None:
        raise unauthorized
    token, user = row
    if token.revoked_at is not None or token.expires_at <= utcnow() or not user.is_active:
        raise unauthorized
    return Caller(user=user, token=token)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def current_user(caller: CurrentCaller) -> User:
    """The signed-in user."""
    return caller.user


CurrentUser = Annotated[User, Depends(current_user)]


def platform_admin(user: CurrentUser) -> User:
    """The signed-in user, who must be a platform admin."""
    if not user.is_platform_admin:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="Only platform admins may do this.",
        )
    return user


PlatformAdmin = Annotated[User, Depends(platform_admin)]


@dataclass(frozen=True)
class OrgContext:
    """The org named in the path, and the caller's membership, role and permissions in it."""

    org: Org
    user: User
    membership: Membership
    role: Role
    permissions: frozenset[str]


def org_not_found(slug: str) -> HTTPException:
    """The one answer for an org that does not exist and for one the caller is not a member of."""
    return HTTPException(
        status_code=status.HTTP_404_NOT_FOUND,
        detail=f"There is no organization '{slug}' among yours.",
    )


def permissions_of(session: Session, role_slug: str) -> frozenset[str]:
    """The permission slugs the role holds, as seeded in the database."""
    rows = session.exec(
        select(RolePermission.permission_slug).where(RolePermission.role_slug == role_slug)
    ).all()
    return frozenset(rows)


def org_member(
    session: SessionDep,
    user: CurrentUser,
    org: Annotated[str, Path(description="The organization's slug.", max_length=40)],
) -> OrgContext:
    """The caller's membership of the org in the path; 404 when there is none (also for a slug
    no org can have, such as one holding a NUL character, which Postgres cannot be asked about)."""
    if "\x00" in org:
        raise org_not_found(org.replace("\x00", ""))
    row = session.exec(
        select(Org, Membership, Role)
        .join(Membership, col(Membership.org_id) == col(Org.id))
        .join(Role, col(Role.slug) == col(Membership.role_slug))
        .where(Org.slug == org, Membership.user_id == user.id)
    ).first()
    if row is None:
        raise org_not_found(org)
    found_org, membership, role = row
    return OrgContext(
        org=found_org,
        user=user,
        membership=membership,
        role=role,
        permissions=permissions_of(session, role.slug),
    )


OrgMember = Annotated[OrgContext, Depends(org_member)]


class RequirePermission:
    """A dependency that lets the request through only when the caller's role holds `permission`."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    def __call__(self, member: OrgMember) -> OrgContext:
        if self.permission not in member.permissions:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=(
                    f"Your role ({member.role.name}) in '{member.org.slug}' does not allow this "
                    f"(it needs the permission {self.permission})."
                ),
            )
        return member

    def __repr__(self) -> str:
        return f"require({self.permission!r})"


def require(permission: str) -> Any:
    """Declare the permission a route needs: `member: Annotated[OrgContext, require("can_view_org")]`."""
    if permission not in role_matrix().permissions:
        raise ValueError(f"unknown permission slug {permission!r}")
    return Depends(RequirePermission(permission))


MAX_OFFSET = 1_000_000_000
"""The largest `offset` a list takes (beyond any real list; larger numbers overflow the databases')."""


@dataclass(frozen=True)
class Pagination:
    limit: int
    offset: int


def pagination(
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many items (up to 200).")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many items.")] = 0,
) -> Pagination:
    return Pagination(limit=limit, offset=offset)


PageParams = Annotated[Pagination, Depends(pagination)]
