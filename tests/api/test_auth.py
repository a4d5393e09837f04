"""Signing in and out, tokens, and password reset through a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dalgo.api.security import digest
from dalgo.db.columns import utcnow
from dalgo.db.models import ApiToken, PasswordResetCode
from tests.support.accounts import PASSWORD, Api, unique_email
from tests.support.mail import Mailbox


def test_wrong_password_and_unknown_email_get_the_same_401(client: TestClient, api: Api) -> None:
    user = api.make_user()
    wrong = client.post("/api/v1/auth/login", json={"email": user.email, "password": "not the password"})
    unknown = client.post("/api/v1/auth/login", json={"email": unique_email(), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["detail"] == "The email or the password is wrong."


def test_login_answers_a_bearer_token_with_its_expiry(client: TestClient, api: Api) -> None:
    user = api.make_user()
    body = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}).json()
    assert body["token_type"] == "bearer"
    assert body["expires_at"].endswith("Z") or "+00:00" in body["expires_at"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == user.email


def test_emails_compare_case_insensitively(client: TestClient, api: Api) -> None:
    email = unique_email("Alice").replace("alice", "Alice")
    user = api.make_user(email)
    assert user.email == email.lower()
    headers = api.login(email.upper())
    assert client.get("/api/v1/me", headers=headers).json()["id"] == str(user.id)
    duplicate = client.post("/api/v1/auth/login", json={"email": email.lower(), "password": PASSWORD})
    assert duplicate.status_code == 200


def test_the_same_email_in_another_case_is_the_same_user(api: Api) -> None:
    email = unique_email("bob")
    api.make_user(email)
    try:
        api.make_user(email.upper())
    except ValueError as exc:
        assert "already exists" in str(exc)
    else:
        raise AssertionError("a second user was made for the same email in capitals")


def test_logout_revokes_the_token_at_once(client: TestClient, api: Api) -> None:
    user = api.make_user()
    headers = api.login(user.email)
    other = api.login(user.email)
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert client.get("/api/v1/me", headers=other).status_code == 200


def test_an_expired_token_is_refused(client: TestClient, api: Api, engine: object) -> None:
    user = api.make_user()
    headers = api.login(user.email)
    secret = headers["Authorization"].removeprefix("Bearer ")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with Session(engine) as session:  # type: ignore[arg-type]
        token = session.exec(select(ApiToken).where(ApiToken.token_hash == digest(secret))).one()
        token.expires_at = utcnow() - timedelta(seconds=1)
        session.add(token)
        session.commit()
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_garbage_and_missing_tokens_are_refused(client: TestClient) -> None:
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_tokens_are_stored_hashed(api: Api, engine: object) -> None:
    user = api.make_user()
    secret = api.login(user.email)["Authorization"].removeprefix("Bearer ")
    with Session(engine) as session:  # type: ignore[arg-type]
        tokens = session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    assert [t.token_hash for t in tokens] == [digest(secret)]
    assert secret not in tokens[0].token_hash


def _reset_code(mails: Mailbox, email: str) -> str:
    body = mails.last_to(email).get_content()
    match = re.search(r"reset-password\?code=([A-Za-z0-9_-]+)", body)
    assert match, body
    assert body.count(match.group(1)) == 2
    return match.group(1)


def test_password_reset_by_mail(client: TestClient, api: Api, mails: Mailbox, engine: object) -> None:
    user = api.make_user()
    old_headers = api.login(user.email)
    response = client.post("/api/v1/auth/password-reset", json={"email": user.email.upper()})
    assert response.status_code == 202
    mail = mails.last_to(user.email)
    assert mail["Subject"] == "Reset your Dalgo password"
    assert "https://dalgo.example.org/reset-password?code=" in mail.get_content()
    code = _reset_code(mails, user.email)
    with Session(engine) as session:  # type: ignore[arg-type]
        stored = session.exec(select(PasswordResetCode).where(PasswordResetCode.user_id == user.id)).one()
        assert stored.code_hash == digest(code)
        assert timedelta(minutes=59) < stored.expires_at - utcnow() <= timedelta(hours=1)

    confirm = client.post(
        "/api/v1/auth/password-reset/confirm", json={"code": code, "new_password": "a new password"}
    )
    assert confirm.status_code == 204
    assert client.get("/api/v1/me", headers=old_headers).status_code == 401
    assert (
        client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 401
    )
    api.login(user.email, "a new password")

    again = client.post(
        "/api/v1/auth/password-reset/confirm", json={"code": code, "new_password": "yet another one"}
    )
    assert again.status_code == 400
    assert "already used or expired" in again.json()["detail"]


def test_password_reset_answers_alike_for_unknown_emails(client: TestClient, mails: Mailbox) -> None:
    email = unique_email("nobody")
    response = client.post("/api/v1/auth/password-reset", json={"email": email})
    assert response.status_code == 202
    assert mails.to(email) == []


def test_expired_and_unknown_reset_codes_give_400(
    client: TestClient, api: Api, mails: Mailbox, engine: object
) -> None:
    user = api.make_user()
    client.post("/api/v1/auth/password-reset", json={"email": user.email})
    code = _reset_code(mails, user.email)
    with Session(engine) as session:  # type: ignore[arg-type]
        stored = session.exec(
            select(PasswordResetCode).where(PasswordResetCode.code_hash == digest(code))
        ).one()
        stored.expires_at = utcnow() - timedelta(seconds=1)
        session.add(stored)
        session.commit()
    expired = client.post(
        "/api/v1/auth/password-reset/confirm", json={"code": code, "new_password": "long enough"}
    )
    unknown = client.post(
        "/api/v1/auth/password-reset/confirm", json={"code": "made-up", "new_password": "long enough"}
    )
    assert expired.status_code == unknown.status_code == 400


def test_a_short_new_password_is_refused_with_the_reason(client: TestClient) -> None:
    response = client.post("/api/v1/auth/password-reset/confirm", json={"code": "x", "new_password": "short"})
    assert response.status_code == 422
    assert "at least 8 characters" in response.text
