"""What the browser tests share: the dashboard's server, signing in, choosing in a select box,
screenshots for the docs, and links read from mails."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, expect

from dalgo.api.web import WEB_DIST
from dalgo.settings import Settings
from tests.support.accounts import PASSWORD
from tests.support.mail import Mailbox

WEB = WEB_DIST.parent
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
RUN_TIMEOUT_MS = 240_000
"""Long enough for a first sync that installs its connector on the way."""


@dataclass
class WebServer:
    """The API and the dashboard, served by uvicorn at `url`."""

    url: str

    def path_of(self, link: str, public_url: str) -> str:
        """A mailed link (built on DALGO_PUBLIC_URL) made to point at this server."""
        assert link.startswith(public_url.rstrip("/") + "/"), link
        return self.url + link[len(public_url.rstrip("/")) :]


def sign_in(page: Page, server: WebServer, email: str, password: str = PASSWORD, path: str = "/") -> None:
    """Sign in through the sign-in page and wait for the signed-in frame."""
    page.goto(server.url + path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("account-menu")).to_be_visible()


def shoot(page: Page, name: str) -> None:
    """Keep a screenshot as docs/images/web-<name>.png when DALGO_WEB_SCREENSHOTS is set
    (`make web-screenshots`), so ordinary test runs leave the tree as it is."""
    if os.environ.get("DALGO_WEB_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"web-{name}.png"), full_page=True)


def mailed_link(mailbox: Mailbox, to: str, settings: Settings, path_start: str, timeout_s: float = 30) -> str:
    """The link starting with `path_start` in the last mail to `to` (waiting for it to arrive)."""
    pattern = re.compile(re.escape(settings.public_url.rstrip("/") + path_start) + r"\S+")
    deadline = time.monotonic() + timeout_s
    while True:
        for message in reversed(mailbox.to(to)):
            found = pattern.search(str(message.get_content()))
            if found:
                return found.group(0)
        assert time.monotonic() < deadline, f"no mail with a {path_start} link reached {to}"
        time.sleep(0.2)


def choose(page: Page, label: str, option: str) -> None:
    """Pick an option of a select box by its label, as a person would."""
    page.get_by_role("textbox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
