"""No response of any route carries a password, a password hash, a token hash or a one-time code."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dalgo.db.models import ApiToken, Invitation, PasswordResetCode, User
from tests.api.invitation_support import invite, mailed_code
from tests.api.routes import ROUTES
from tests.secret_scan import ResponseRecorder
from tests.secrets_registry import register_secret
from tests.support.accounts import PASSWORD, OrgWithRoles, unique_email
from tests.support.mail import Mailbox


def test_no_response_contains_a_secret(
    client: TestClient,
    mails: Mailbox,
    recorder: ResponseRecorder,
    make_org_with_roles: Callable[[], OrgWithRoles],
    engine: object,
) -> None:
    """Drives every GET route and the flows that handle secrets, then scans every response the
    API gave in this test session for the passwords, hashes and codes it knows of."""
    org = make_org_with_roles()
    boss = org.headers["super-admin"]
    email = unique_email("secret")
    invite(client, org.slug, boss, email, "analyst")
    code = mailed_code(mails, email)
    new_password = register_secret("a password nobody may read back")
    client.post("/api/v1/invitations/accept", json={"code": code, "password": new_password})
    client.post("/api/v1/auth/password-reset", json={"email": email})
    reset_body = mails.last_to(email).get_content()
    reset_code = reset_body.split("code=")[1].split()[0]
    for route in ROUTES:
        if route.method == "GET":
            client.get(route.url(org.slug), headers=boss)

    with Session(engine) as session:  # type: ignore[arg-type]
        secrets = {PASSWORD, new_password, code, reset_code}
        secrets |= {u.password_hash for u in session.exec(select(User)).all()}
        secrets |= {t.token_hash for t in session.exec(select(ApiToken)).all()}
        secrets |= {i.code_hash for i in session.exec(select(Invitation)).all()}
        secrets |= {r.code_hash for r in session.exec(select(PasswordResetCode)).all()}

    assert len(recorder.bodies) >= 10 + sum(r.method == "GET" for r in ROUTES)
    for method, url, body in recorder.bodies:
        for secret in secrets:
            assert secret not in body, f"{method} {url} answered a secret"
        assert "password_hash" not in body and "code_hash" not in body and "token_hash" not in body
