"""Abuse limits as attacks: many sign-in attempts answer 429, oversized bodies answer 413.

The session's app lifts the sign-in limits (every test signs in from the same address), so these
tests make an app of their own with the default limits, on the session's database. Each test takes
client addresses of its own, so counts never carry over from one test to the next.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dalgo.api.main import create_app
from dalgo.settings import Settings
from tests.api.invitation_support import invite, mailed_code
from tests.support.accounts import PASSWORD, Api, OrgWithRoles, unique_email
from tests.support.mail import Mailbox

LOGIN = "/api/v1/auth/login"
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(scope="module")
def limited_app(settings: Settings, client: TestClient) -> Iterator[FastAPI]:
    """An app with the default limits (the session's client has migrated the database already)."""
    app = create_app(
        settings.model_copy(
            update={"login_rate_limit_per_address": "20/minute", "login_rate_limit_per_email": "10/minute"}
        )
    )
    with TestClient(app):
        yield app


@pytest.fixture()
def client_from(limited_app: FastAPI) -> Callable[[], TestClient]:
    """Makes a client of the limited app calling from an address no other test uses."""

    def make() -> TestClient:
        return TestClient(limited_app, client=(next(_addresses), 5000))

    return make


def assert_too_many(response: httpx.Response, kind: str) -> int:
    """The answer is 429 naming what is over its limit; the seconds to wait."""
    assert response.status_code == 429, response.text
    wait_s = int(response.headers["retry-after"])
    assert 0 < wait_s <= 60
    detail = response.json()["detail"]
    assert re.fullmatch(rf"Too many [a-z-]+ attempts for this {kind}; try again in \d+ seconds\.", detail)
    return wait_s


def test_twenty_wrong_passwords_in_a_row_are_stopped_at_the_eleventh(
    client_from: Callable[[], TestClient], api: Api
) -> None:
    user = api.make_user()
    attacker = client_from()
    answers = [attacker.post(LOGIN, json={"email": user.email, "password": f"guess {n}"}) for n in range(20)]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    for answer in answers[10:]:
        assert_too_many(answer, "email")
    # Every attempt counted for the address as well: the 21st is over its limit of 20.
    assert_too_many(attacker.post(LOGIN, json={"email": user.email, "password": PASSWORD}), "address")

    # The right password is refused too, from any address, until the window frees a slot.
    right = client_from().post(LOGIN, json={"email": user.email.upper(), "password": PASSWORD})
    assert_too_many(right, "email")
    assert "sign-in" in right.json()["detail"]

    # Someone else, from elsewhere, still signs in.
    other = api.make_user()
    assert client_from().post(LOGIN, json={"email": other.email, "password": PASSWORD}).status_code == 200


def test_one_address_trying_many_emails_is_stopped_after_twenty(
    client_from: Callable[[], TestClient], api: Api
) -> None:
    attacker = client_from()
    answers = [
        attacker.post(LOGIN, json={"email": unique_email("sprayed"), "password": "Summer2024!"}).status_code
        for _ in range(20)
    ]
    assert answers == [401] * 20
    user = api.make_user()
    assert_too_many(attacker.post(LOGIN, json={"email": user.email, "password": PASSWORD}), "address")
    # The account itself is not locked: from another address its owner signs in.
    assert client_from().post(LOGIN, json={"email": user.email, "password": PASSWORD}).status_code == 200


def test_password_reset_requests_are_limited_per_email_and_per_address(
    client_from: Callable[[], TestClient],
) -> None:
    email = unique_email("nobody")
    # Per email, whichever address asks.
    for _ in range(10):
        assert client_from().post("/api/v1/auth/password-reset", json={"email": email}).status_code == 202
    assert_too_many(client_from().post("/api/v1/auth/password-reset", json={"email": email}), "email")

    # Per address, whichever email it names.
    asker = client_from()
    for _ in range(20):
        response = asker.post("/api/v1/auth/password-reset", json={"email": unique_email("nobody")})
        assert response.status_code == 202
    limited = asker.post("/api/v1/auth/password-reset", json={"email": unique_email("nobody")})
    assert_too_many(limited, "address")
    assert "password-reset" in limited.json()["detail"]


def test_guessing_password_reset_codes_is_limited_per_address(client_from: Callable[[], TestClient]) -> None:
    guesser = client_from()
    for n in range(20):
        response = guesser.post(
            "/api/v1/auth/password-reset/confirm",
            json={"code": f"guess-{n}", "new_password": "a new password"},
        )
        assert response.status_code == 400
    assert_too_many(
        guesser.post(
            "/api/v1/auth/password-reset/confirm", json={"code": "guess", "new_password": "a new password"}
        ),
        "address",
    )


def test_guessing_invitation_codes_is_limited_per_address(client_from: Callable[[], TestClient]) -> None:
    guesser = client_from()
    for n in range(20):
        response = guesser.post(
            "/api/v1/invitations/accept", json={"code": f"guess-{n}", "password": PASSWORD}
        )
        assert response.status_code == 400
    limited = guesser.post("/api/v1/invitations/accept", json={"code": "guess", "password": PASSWORD})
    assert_too_many(limited, "address")
    assert "invitation" in limited.json()["detail"]


def test_an_invitation_is_limited_per_its_email_from_any_address(
    client: TestClient,
    client_from: Callable[[], TestClient],
    mails: Mailbox,
    make_org_with_roles: Callable[[], OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    email = unique_email("invited")
    invite(client, org.slug, org.headers["account-manager"], email, "guest")
    code = mailed_code(mails, email)
    for _ in range(10):
        response = client_from().post("/api/v1/invitations/accept", json={"code": code})
        assert response.status_code == 400
        assert "choose a password" in response.json()["detail"]
    over = client_from().post("/api/v1/invitations/accept", json={"code": code, "password": PASSWORD})
    assert_too_many(over, "email")


def test_a_body_over_the_limit_with_a_length_answers_413(
    client_from: Callable[[], TestClient], settings: Settings
) -> None:
    body = b"x" * (settings.max_request_bytes + 1)
    response = client_from().post(LOGIN, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == (
        f"The request's body is larger than the {settings.max_request_bytes} bytes "
        "this API accepts; send less at a time."
    )


def test_a_body_at_the_limit_is_read(client_from: Callable[[], TestClient], settings: Settings) -> None:
    padding = " " * (settings.max_request_bytes - 100)
    body = f'{{"email": "{unique_email()}", "password": "x"}}{padding}'.encode()
    assert len(body) <= settings.max_request_bytes
    response = client_from().post(LOGIN, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 401


def test_a_chunked_body_over_the_limit_answers_413(
    client_from: Callable[[], TestClient], settings: Settings
) -> None:
    def chunks() -> Iterator[bytes]:
        left = settings.max_request_bytes + 1
        while left:
            size = min(left, 64 * 1024)
            left -= size
            yield b"x" * size

    response = client_from().post(LOGIN, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_a_streamed_body_stops_being_read_at_the_limit(limited_app: FastAPI, settings: Settings) -> None:
    """Sent chunk by chunk (the way a server hands a chunked body over), the read stops at the first
    chunk over the limit: the rest is never asked for."""
    chunk = 64 * 1024
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(10 * settings.max_request_bytes // chunk):
            sent += 1
            yield b"x" * chunk

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=limited_app, client=(next(_addresses), 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as streaming:
            return await streaming.post(LOGIN, content=chunks(), headers={"content-type": "application/json"})

    response = asyncio.run(post())
    assert response.status_code == 413
    assert sent == settings.max_request_bytes // chunk + 1
