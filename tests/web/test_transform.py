"""An analyst sets up the dbt workspace in the browser, runs commands and opens the docs they made."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.accounts import OrgWithRoles
from tests.support.dbt import Repo
from tests.web.support import RUN_TIMEOUT_MS, WebServer, choose, shoot, sign_in

FINAL = re.compile(r"^(completed|completed_with_warnings|failed|crashed|cancelled)$")


def run_command(page: Page, command: str) -> None:
    """Run a dbt command from the Transform page and wait until its run has completed."""
    choose(page, "Command", command)
    page.get_by_role("button", name="Run", exact=True).click()
    progress = page.get_by_test_id("run-progress")
    expect(progress.get_by_text(f"dbt {command}")).to_be_visible()
    state = progress.get_by_test_id("progress-state")
    expect(state).to_have_attribute("data-state", FINAL, timeout=RUN_TIMEOUT_MS)
    assert state.get_attribute("data-state") == "completed", progress.inner_text()


def test_an_analyst_sets_up_dbt_runs_it_and_opens_the_docs(
    page: Page, web_server: WebServer, duckdb_org: OrgWithRoles, worker: str, tmp_path: Path
) -> None:
    repo = Repo(tmp_path)
    sign_in(page, web_server, duckdb_org.users["analyst"].email, path=f"/orgs/{duckdb_org.slug}/transform")
    expect(page.get_by_text("No dbt workspace yet.")).to_be_visible()
    page.get_by_label("Git repository URL").fill(repo.url)
    page.get_by_label("Git token").fill("ghp_aTokenThatStaysMasked123")
    page.get_by_label("Branch").fill("main")
    page.get_by_label("Project folder in the repository").fill("transform")
    page.get_by_label("Target schema").fill("analytics")
    page.get_by_role("button", name="Save workspace").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    # The token comes back masked, never as it was typed.
    page.reload()
    expect(page.get_by_label("Git token")).to_have_value("********")

    run_command(page, "deps")
    run_command(page, "build")
    nodes = page.get_by_test_id("dbt-nodes")
    expect(nodes).to_contain_text("raw_people")
    expect(nodes).to_contain_text("donor_totals")
    shoot(page, "transform")
    run_command(page, "docs-generate")

    page.get_by_role("link", name="Open the dbt docs").click()
    docs = page.frame_locator("iframe[title='dbt docs']")
    expect(docs.locator("body")).to_contain_text("donor_totals", timeout=30_000)
    shoot(page, "dbt-docs")
