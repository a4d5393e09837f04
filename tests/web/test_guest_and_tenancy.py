"""What the dashboard shows depends on who looks: a guest sees the org's pages without a single
control that would change anything, and another org's objects are "not found" like missing ones."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from tests.support.accounts import OrgWithRoles
from tests.web.support import WebServer, sign_in

ALLOWED_BUTTONS = re.compile(r"^(Account|Notifications, \d+ unread)$")
"""The only buttons a guest may find enabled: the account menu and the notifications."""
CHANGING_LINKS = re.compile(r"^(New |Make a connection)")


@pytest.fixture(scope="module")
def furnished(client: TestClient, duckdb_org: OrgWithRoles) -> dict[str, Any]:
    """The org's source, connection, pipeline and a run, made through the API."""
    org, manager = duckdb_org.slug, duckdb_org.headers["pipeline-manager"]
    source = client.post(
        f"/api/v1/orgs/{org}/sources",
        json={"name": "Guest view source", "definition": "source-faker", "config": {"count": 5}},
        headers=manager,
    )
    assert source.status_code == 201, source.text
    connection = client.post(
        f"/api/v1/orgs/{org}/connections",
        json={"name": "Guest view sync", "source_id": source.json()["id"], "destination_schema": "guest_raw"},
        headers=manager,
    )
    assert connection.status_code == 201, connection.text
    pipeline = client.post(
        f"/api/v1/orgs/{org}/pipelines",
        json={
            "name": "Guest view pipeline",
            "steps": [{"type": "sync", "connection_id": connection.json()["id"]}],
            "schedule": {"cron": "0 6 * * *", "timezone": "Asia/Kolkata"},
        },
        headers=manager,
    )
    assert pipeline.status_code == 201, pipeline.text
    check = client.post(f"/api/v1/orgs/{org}/warehouse/check", headers=duckdb_org.headers["account-manager"])
    assert check.status_code == 202, check.text
    return {
        "source": source.json()["id"],
        "connection": connection.json()["id"],
        "pipeline": pipeline.json()["id"],
        "run": check.json()["flow_run_id"],
    }


def test_a_guest_sees_no_control_that_would_change_anything(
    page: Page, web_server: WebServer, duckdb_org: OrgWithRoles, furnished: dict[str, Any]
) -> None:
    org = duckdb_org.slug
    sign_in(page, web_server, duckdb_org.users["guest"].email)
    pages = {
        "": "Org ",
        "pipelines": "Pipelines",
        f"pipelines/{furnished['pipeline']}": "Guest view pipeline",
        "runs": "Runs",
        f"runs/{furnished['run']}": "check",
        "sources": "Sources",
        f"sources/{furnished['source']}": "Guest view source",
        "connections": "Connections",
        f"connections/{furnished['connection']}": "Guest view sync",
        "warehouse": "Warehouse",
        "transform": "Transform",
        "members": "Members",
    }
    for path, heading in pages.items():
        page.goto(f"{web_server.url}/orgs/{org}/{path}".rstrip("/"))
        expect(page.get_by_role("heading", level=2).first).to_contain_text(heading)
        page.wait_for_load_state("networkidle")
        expect(page.locator("[aria-busy=true]")).to_have_count(0)
        enabled = [
            (button.get_attribute("aria-label") or button.inner_text()).strip()
            for button in page.get_by_role("button").all()
            if button.is_visible() and button.is_enabled()
        ]
        changing = [name for name in enabled if not ALLOWED_BUTTONS.match(name)]
        assert not changing, f"a guest finds {changing} on /orgs/{org}/{path}"
        links = [link.inner_text() for link in page.get_by_role("link").all() if link.is_visible()]
        assert not [name for name in links if CHANGING_LINKS.match(name)], (path, links)
    # The page of a pipeline shows its schedule in words, read-only.
    page.goto(f"{web_server.url}/orgs/{org}/pipelines/{furnished['pipeline']}")
    expect(page.get_by_test_id("schedule-words")).to_have_text("At 06:00 (Asia/Kolkata)")
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_be_disabled()


def test_another_orgs_run_typed_into_the_address_is_not_found(
    page: Page,
    web_server: WebServer,
    duckdb_org: OrgWithRoles,
    furnished: dict[str, Any],
    make_org_with_roles: Callable[..., OrgWithRoles],
) -> None:
    other = make_org_with_roles()
    sign_in(page, web_server, other.users["super-admin"].email)
    for path in (
        f"/orgs/{other.slug}/runs/{furnished['run']}",
        f"/orgs/{other.slug}/pipelines/{furnished['pipeline']}",
        f"/orgs/{other.slug}/runs/{uuid.uuid4()}",
        f"/orgs/{duckdb_org.slug}/runs/{furnished['run']}",
        f"/orgs/{duckdb_org.slug}",
    ):
        page.goto(web_server.url + path)
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        expect(page.get_by_text("Guest view")).to_have_count(0)
    # The org's own run of the same address shape loads: the difference is the org, not the page.
    page.goto(f"{web_server.url}/orgs/{other.slug}/runs")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
