"""Rate limits on the routes anyone may call to sign in: login, password reset, invitation accept.

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

Over a limit the answer is 429 with a `Retry-After` header (whole seconds until a slot frees) and a
sentence. The counts live in the process: with several API processes each counts its own.
"""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from dalgo.api.services.accounts import normalize_email
from dalgo.settings import Settings


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
        if self._limiter.hit(item, action, kind, key):
            return
        reset_at = self._limiter.get_window_stats(item, action, kind, key).reset_time
        wait_s = max(1, math.ceil(reset_at - time.time()))
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many {ACTIONS.get(action, action)} attempts for this {kind}; "
            f"try again in {wait_s} seconds.",
            headers={"Retry-After": str(wait_s)},
        )


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
