"""People come in through the mails' links: an invitation accepted by someone new, who then signs
in; a forgotten password reset from its mail; signing out ends the session."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, Response, expect

from dalgo.settings import Settings
from tests.secrets_registry import register_secret
from tests.support.accounts import Api, OrgWithRoles, unique_email
from tests.support.mail import Mailbox
from tests.web.support import WebServer, mailed_link, shoot, sign_in

NEW_PASSWORD = register_secret("a long new password 42")


def test_a_new_user_accepts_an_invitation_from_the_mail_and_signs_in(
    page: Page,
    web_server: WebServer,
    settings: Settings,
    duckdb_org: OrgWithRoles,
    mails: Mailbox,
) -> None:
    # The account manager invites from the Members page, offered only the roles up to their own.
    email = unique_email("invited")
    sign_in(
        page, web_server, duckdb_org.users["account-manager"].email, path=f"/orgs/{duckdb_org.slug}/members"
    )
    invite = page.get_by_role("form", name="Invite someone")
    invite.get_by_label("Email").fill(email)
    invite.get_by_label("Role").click()
    expect(page.get_by_role("option")).to_have_text(
        ["Guest", "Analyst", "Pipeline manager", "Account manager"]
    )
    page.get_by_role("option", name="Analyst").click()
    invite.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_have_text("Invitation sent.")
    expect(page.get_by_role("region", name="Invitations")).to_contain_text(email)
    shoot(page, "members")
    link = mailed_link(mails, email, settings, "/invitations/accept?code=")
    page.get_by_test_id("account-menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.goto(web_server.path_of(link, settings.public_url))
    expect(page.get_by_role("heading", name="Accept your invitation")).to_be_visible()
    shoot(page, "accept-invitation")
    page.get_by_label("Choose a password").fill(NEW_PASSWORD)
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text(f"You joined {duckdb_org.slug} as analyst")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name=f"Org {duckdb_org.slug}")).to_be_visible()
    expect(page.get_by_text("You are analyst here.")).to_be_visible()
    assert page.url == f"{web_server.url}/orgs/{duckdb_org.slug}"

    # The code worked once: the same link now shows the API's sentence.
    page.goto(web_server.path_of(link, settings.public_url))
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page.get_by_role("alert")).to_contain_text("invitation")


def test_a_forgotten_password_is_reset_from_the_mail_and_sign_out_ends_the_session(
    page: Page,
    web_server: WebServer,
    settings: Settings,
    api: Api,
    duckdb_org: OrgWithRoles,
    mails: Mailbox,
) -> None:
    # A member of their own: a reset ends every token of the user, the shared members' too.
    user = api.make_user(unique_email("forgetful"))
    api.add_member(duckdb_org.slug, user, "guest")
    email = user.email
    page.goto(web_server.url + "/login")
    shoot(page, "sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    # Both pages have an "Email" field: fill the one of the page the link leads to.
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Mail me a link").click()
    expect(page.get_by_role("status")).to_contain_text("is on its way")
    link = mailed_link(mails, email, settings, "/reset-password?code=")

    page.goto(web_server.path_of(link, settings.public_url))
    page.get_by_label("New password").first.fill(NEW_PASSWORD)
    page.get_by_label("New password, again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")

    sign_in(page, web_server, email, NEW_PASSWORD)
    page.get_by_test_id("account-menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # The app no longer holds a token, and the org's pages send the visitor to sign in.
    page.goto(f"{web_server.url}/orgs/{duckdb_org.slug}/runs")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "next=" in page.url


def test_a_wrong_password_shows_the_api_sentence(
    page: Page, web_server: WebServer, duckdb_org: OrgWithRoles
) -> None:
    page.goto(web_server.url + "/login")
    page.get_by_label("Email").fill(duckdb_org.users["analyst"].email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("password")


FIRST_PAGE_SCRIPT_BUDGET = 750_000
"""Bytes of JavaScript the sign-in page may load (uncompressed): what keeps the first page under a
second on the local stack. Speed itself is measured, not timed in tests; this holds its cause."""


def test_the_first_page_loads_only_its_share_of_the_app(browser: Browser, web_server: WebServer) -> None:
    """From a cold browser (a fresh context, nothing cached), the sign-in page is drawn after
    loading at most FIRST_PAGE_SCRIPT_BUDGET bytes of JavaScript: the pages' own code and the
    large widgets (the connector forms, the dbt docs) load with the pages that use them."""
    context = browser.new_context()
    page = context.new_page()
    responses: list[Response] = []

    def keep(response: Response) -> None:
        responses.append(response)

    page.on("response", keep)
    page.goto(web_server.url + "/")
    page.wait_for_function("[...document.querySelectorAll('h2')].some(h => h.textContent === 'Sign in')")
    scripts = {r.url: len(r.body()) for r in responses if r.request.resource_type == "script"}
    context.close()
    assert scripts, "the sign-in page loaded no script at all"
    assert sum(scripts.values()) <= FIRST_PAGE_SCRIPT_BUDGET, scripts
