"""A pipeline manager builds the whole chain in the browser: a faker source from its connector's
form, a connection, a scheduled pipeline; runs it, watches it complete, reads its logs and looks
at the tables it made. The session's worker runs it for real."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.accounts import OrgWithRoles
from tests.web.support import RUN_TIMEOUT_MS, WebServer, choose, shoot, sign_in

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_a_pipeline_manager_builds_runs_and_follows_a_pipeline(
    page: Page, web_server: WebServer, duckdb_org: OrgWithRoles, worker: str
) -> None:
    slug = duckdb_org.slug
    sign_in(page, web_server, duckdb_org.users["pipeline-manager"].email, path=f"/orgs/{slug}/sources")

    # A source from the connector's own form (its spec), checked as a run the page follows.
    page.get_by_role("link", name="New source").click()
    choose(page, "Connector", "Sample data (Faker)")
    page.get_by_label("Source name").fill("Sample people")
    count = page.get_by_label("Count", exact=True)
    # The first use of a connector installs it before its spec can be read.
    expect(count).to_have_value("1000", timeout=RUN_TIMEOUT_MS)
    count.fill("30")
    shoot(page, "source-form")
    page.get_by_role("button", name="Create source").click()
    expect(page).to_have_url(re.compile(f"/orgs/{slug}/sources/{UUID}$"))
    page.get_by_role("button", name="Check the connection").click()
    expect(page.get_by_test_id("check-result")).to_contain_text("Connected", timeout=RUN_TIMEOUT_MS)

    # A connection from it into the raw schema.
    page.get_by_role("link", name="Make a connection from this source").first.click()
    page.get_by_role("textbox", name="Name", exact=True).fill("People sync")
    expect(page.get_by_role("textbox", name="Source", exact=True)).to_have_value("Sample people")
    page.get_by_label("Warehouse schema to write into").fill("raw")
    page.get_by_role("button", name="Create connection").click()
    expect(page).to_have_url(re.compile(f"/orgs/{slug}/connections/{UUID}$"))

    # A pipeline of that sync, on a schedule shown in words with its next runs.
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Pipelines").click()
    page.get_by_role("link", name="New pipeline").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Daily people")
    page.get_by_role("button", name="Add a sync").click()
    choose(page, "Step 1: sync connection", "People sync")
    page.get_by_label("Run on a schedule").check(force=True)
    page.get_by_label("Cron expression").fill("30 6 * * 1-5")
    page.get_by_role("textbox", name="Time zone").fill("Asia/Kolkata")
    expect(page.get_by_test_id("schedule-words")).to_have_text(
        "At 06:30, Monday through Friday (Asia/Kolkata)"
    )
    expect(page.get_by_test_id("next-runs")).to_contain_text("Next runs:")
    shoot(page, "pipeline-edit")
    page.get_by_role("button", name="Create pipeline").click()
    expect(page).to_have_url(re.compile(f"/orgs/{slug}/pipelines/{UUID}$"))

    # Run it now and follow it: state, steps and logs update on the page until it completes.
    page.get_by_role("button", name="Run Daily people now").click()
    expect(page).to_have_url(re.compile(f"/orgs/{slug}/runs/{UUID}$"))
    state = page.get_by_test_id("run-state")
    expect(state).to_have_attribute("data-state", "completed", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("run-steps")).to_contain_text("step1-sync")
    logs = page.get_by_test_id("run-logs")
    expect(logs).to_contain_text("Synced", timeout=30_000)
    expect(page.get_by_role("region", name="Result")).to_contain_text("completed")
    shoot(page, "run")
    page.get_by_role("region", name="Logs").get_by_text("Errors", exact=True).click()
    expect(logs).not_to_contain_text("Synced")

    # The pipeline list shows the last run; the tables it made are in the warehouse.
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Pipelines").click()
    row = page.get_by_test_id("pipeline-row").filter(has_text="Daily people")
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text("At 06:30, Monday through Friday (Asia/Kolkata)")
    shoot(page, "pipelines")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Warehouse").click()
    tables = page.get_by_role("navigation", name="Tables")
    tables.get_by_text("users", exact=True).click()
    preview = page.get_by_test_id("table-preview")
    expect(preview.locator("tbody tr")).to_have_count(30)
    shoot(page, "warehouse")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Overview").click()
    expect(page.get_by_role("region", name="Pipelines")).to_contain_text("Daily people")
    shoot(page, "overview")
