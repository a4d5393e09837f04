"""Rate limits: on the routes anyone may call to sign in (login, password reset, invitation
accept), and on the runs an org's members start by hand.

The counting is the `limits` library's moving window over its in-process memory storage: one
`SignInLimiter` per app (on `app.state`, made from the settings in `create_app`). Every attempt
counts, a successful one too, so a right password after the limit is still refused until the
window frees a slot. Each action counts on its own, per client address and per email:

- per address: `settings.login_rate_limit_per_address` (default 20 a minute);
- per email: `settings.login_rate_limit_per_email` (default 10 a minute), for the email in the body
  or the one a code belongs to.

The client address is the connection's (`request.client.host`) as uvicorn gives it: uvicorn takes
it from `X-Forwarded-For` only when the connection comes from an address it trusts (`--proxy-headers`,
on by default, and `--forwarded-allow-ips` / `FORWARDED_ALLOW_IPS`, 127.0.0.1 by default). Behind a
reverse proxy on another host, name that proxy there; otherwise every caller shares the proxy's
address and its limit.

Runs started by hand are limited per org the same way (`ManualRunLimiter`, on `app.state` too):
a sync, a dbt command or git pull, and a pipeline run now, together, at most
`settings.manual_run_rate_limit` (default 10 a minute) per org. The routes that start them declare
their permission through `manual_run("<permission>")` instead of `require(...)`: the caller's
membership and permission are checked first (a guest's refused attempt uses none of the org's
allowance), then the attempt is counted, whether or not it then starts a run (a busy resource's
409 counts too).

Over a limit the answer is 429 with a `Retry-After` header (whole seconds until a slot frees) and a
sentence. The counts live in the process: with several API processes each counts its own.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from dalgo.api.deps import OrgContext, OrgMember, RequirePermission
from dalgo.api.services.accounts import normalize_email
from dalgo.db.roles import role_matrix
from dalgo.settings import Settings


def _hit_or_refuse(limiter: MovingWindowRateLimiter, item: RateLimitItem, what: str, *keys: str) -> None:
    """Count one attempt under `keys`; 429 with Retry-After naming `what` when over the limit."""
    if limiter.hit(item, *keys):
        return
    reset_at = limiter.get_window_stats(item, *keys).reset_time
    wait_s = max(1, math.ceil(reset_at - time.time()))
    raise HTTPException(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"{what}; try again in {wait_s} seconds.",
        headers={"Retry-After": str(wait_s)},
    )


class SignInLimiter:
    """Counts sign-in attempts per action, client address and email."""

    def __init__(self, per_address: str, per_email: str) -> None:
        self.per_address: RateLimitItem = parse(per_address)
        self.per_email: RateLimitItem = parse(per_email)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInLimiter:
        return cls(settings.login_rate_limit_per_address, settings.login_rate_limit_per_email)

    def hit(self, action: str, address: str, email: str | None = None) -> None:
        """Count one attempt at `action`; 429 when the address or the email is over its limit."""
        self._hit(self.per_address, action, "address", address)
        if email:
            self._hit(self.per_email, action, "email", normalize_email(email))

    def _hit(self, item: RateLimitItem, action: str, kind: str, key: str) -> None:
        what = f"Too many {ACTIONS.get(action, action)} attempts for this {kind}"
        _hit_or_refuse(self._limiter, item, what, action, kind, key)


class ManualRunLimiter:
    """Counts the runs an org's members start by hand (syncs, dbt commands, pipelines), per org."""

    def __init__(self, per_org: str) -> None:
        self.per_org: RateLimitItem = parse(per_org)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_settings(cls, settings: Settings) -> ManualRunLimiter:
        return cls(settings.manual_run_rate_limit)

    def hit(self, org: str) -> None:
        """Count one attempt to start a run in `org`; 429 when the org is over its limit."""
        allowed = f"at most {self.per_org.amount} per {_window(self.per_org)}"
        what = f"Too many runs started by hand in '{org}' ({allowed})"
        _hit_or_refuse(self._limiter, self.per_org, what, "manual-run", org)


def _window(item: RateLimitItem) -> str:
    """`minute`, `10 seconds`: the window a limit counts over, in words."""
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


class ManualRun(RequirePermission):
    """`require(permission)`, and then one attempt counted against the org's manual-run limit."""

    def __call__(self, member: OrgMember, request: Request) -> OrgContext:  # type: ignore[override]
        checked = super().__call__(member)
        limiter: ManualRunLimiter = request.app.state.manual_run_limiter
        limiter.hit(checked.org.slug)
        return checked

    def __repr__(self) -> str:
        return f"manual_run({self.permission!r})"


def manual_run(permission: str) -> Any:
    """Declare the permission of a route that starts a run by hand; its calls count against the
    org's manual-run limit: `member: Annotated[OrgContext, manual_run("can_run_pipeline")]`."""
    if permission not in role_matrix().permissions:
        raise ValueError(f"unknown permission slug {permission!r}")
    return Depends(ManualRun(permission))


ACTIONS = {
    "login": "sign-in",
    "password-reset": "password-reset",
    "password-reset-confirm": "password-reset",
    "invitation-accept": "invitation",
}
"""The actions counted apart, and how the answer over the limit names them."""


def get_sign_in_limiter(request: Request) -> SignInLimiter:
    """The app's limiter."""
    limiter: SignInLimiter = request.app.state.sign_in_limiter
    return limiter


def client_address(request: Request) -> str:
    """The caller's address as the server sees it (see the module's note on proxies)."""
    return request.client.host if request.client else "unknown"


SignInLimiterDep = Annotated[SignInLimiter, Depends(get_sign_in_limiter)]
ClientAddress = Annotated[str, Depends(client_address)]
