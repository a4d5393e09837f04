"""Invitations made through the API, and the code their mail carries."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.support.mail import Mailbox


def invite(client: TestClient, org: str, headers: dict[str, str], email: str, role: str) -> dict[str, str]:
    """Invite `email` to the org with `role`; the invitation as the API answers it."""
    response = client.post(
        f"/api/v1/orgs/{org}/invitations", json={"email": email, "role": role}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def mailed_code(mails: Mailbox, email: str) -> str:
    """The invitation code in the last mail to `email`."""
    body = mails.last_to(email).get_content()
    match = re.search(r"invitations/accept\?code=([A-Za-z0-9_-]+)", body)
    assert match, body
    return match.group(1)
