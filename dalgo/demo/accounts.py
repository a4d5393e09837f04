"""The demo's two logins: a platform admin (made in the API database, as `dalgo admin create-user`
does) and a demo user, invited into the demo org and signed up through the web API.

Their passwords are made once and kept in DALGO_HOME/demo/logins.json (mode 0600), so a second
run signs in with them; a password that no longer works is reset (the admin's in the database,
the demo user's through the API's password-reset mail).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from dalgo.api.security import hash_password, verify_password
from dalgo.api.services.accounts import create_user, find_user
from dalgo.db.engine import make_engine, migrate
from dalgo.demo.client import Api, DemoError, mailed_code
from dalgo.settings import Settings

ADMIN_EMAIL = "demo-admin@example.org"
USER_EMAIL = "demo@example.org"
USER_ROLE = "account-manager"


@dataclass(frozen=True)
class Login:
    email: str
    password: str


def logins_path(settings: Settings) -> Path:
    return settings.resolved_home / "demo" / "logins.json"


def read_logins(settings: Settings) -> dict[str, Login]:
    """The logins a previous run made, by role in the demo ("admin", "user")."""
    path = logins_path(settings)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {key: Login(value["email"], value["password"]) for key, value in data.items()}


def save_logins(settings: Settings, logins: dict[str, Login]) -> None:
    path = logins_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({key: vars(login) for key, login in logins.items()}, file, indent=2)


def new_password() -> str:
    return secrets.token_urlsafe(12)


def ensure_platform_admin(settings: Settings, login: Login) -> str:
    """Make the platform admin with this login, or bring an existing one in line; what was done."""
    engine = make_engine(settings.resolved_database_url)
    try:
        migrate(engine)
        with Session(engine) as session:
            user = find_user(session, login.email)
            if user is None:
                create_user(session, login.email, login.password, is_platform_admin=True)
                session.commit()
                return "made"
            password_ok = verify_password(login.password, user.password_hash)
            if user.is_platform_admin and password_ok:
                return "reused"
            user.is_platform_admin = True
            if not password_ok:
                user.password_hash = hash_password(login.password)
            session.add(user)
            session.commit()
            return "updated"
    finally:
        engine.dispose()


def ensure_demo_user(admin: Api, user: Api, org: str, login: Login, outbox: Path) -> str:
    """Sign the demo user in, first inviting them into the org (the invitation's code read from the
    outbox, as they would read their mail) or resetting a forgotten password; what was done."""
    members = admin.get(f"/orgs/{org}/members", {"limit": 200})["data"]
    member = any(m["email"] == login.email for m in members)
    done = "reused"
    if not member:
        since = time.time()
        admin.call("POST", f"/orgs/{org}/invitations", {201}, json={"email": login.email, "role": USER_ROLE})
        code = mailed_code(outbox, login.email, since)
        user.call("POST", "/invitations/accept", {200}, json={"code": code, "password": login.password})
        done = "invited and signed up"
    if user.login(login.email, login.password):
        return done
    since = time.time()
    user.call("POST", "/auth/password-reset", {202}, json={"email": login.email})
    code = mailed_code(outbox, login.email, since)
    user.call(
        "POST", "/auth/password-reset/confirm", {204}, json={"code": code, "new_password": login.password}
    )
    if not user.login(login.email, login.password):
        raise DemoError(f"{login.email} cannot sign in, even after a password reset.")
    return f"{done}, password reset"
