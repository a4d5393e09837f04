"""Browser tests of the dashboard: the built web app served by a real uvicorn running
`create_app` with the session's settings, driven by Playwright through Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect, sync_playwright

from dalgo.api.main import create_app
from dalgo.api.web import WEB_DIST
from dalgo.settings import Settings
from tests.support.accounts import OrgWithRoles
from tests.support.network import free_port
from tests.web.support import WEB, WebServer

CHROMIUM = "/usr/bin/chromium"
expect.set_options(timeout=20_000)
"""Saving a connection or a pipeline makes Prefect objects: allow for a busy machine."""


def _newest_source_mtime() -> float:
    sources = [WEB / "index.html", WEB / "package-lock.json", WEB / "vite.config.ts"]
    sources += [p for p in (WEB / "src").rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in sources)


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """The dashboard's build; built here (npm ci, npm run build) when missing or older than its sources."""
    index = WEB_DIST / "index.html"
    if index.is_file() and index.stat().st_mtime >= _newest_source_mtime():
        return WEB_DIST
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to build the dashboard (web/): install Node.js 20 and npm")
    if not (WEB / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)
    return WEB_DIST


@pytest.fixture(scope="session")
def web_server(settings: Settings, client: TestClient, web_dist: Path) -> Iterator[WebServer]:
    """A real uvicorn serving `create_app(settings)` (API and dashboard) on a free port, in a thread."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="dashboard-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
        time.sleep(0.1)
    yield WebServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium (installed by `make chromium`), headless."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so the page fixture knows whether the test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture()
def page(
    browser: Browser, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Page]:
    """A fresh browser tab (its own storage, so nobody is signed in) the size of a laptop screen.
    When the test fails, the page's screenshot, text and console are kept and their folder named."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    console: list[str] = []
    tab.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = tmp_path_factory.mktemp(f"failed-{request.node.name[:40]}")
        tab.screenshot(path=str(folder / "page.png"), full_page=True)
        (folder / "page.txt").write_text(f"{tab.url}\n\n{tab.inner_text('body')}\n\n" + "\n".join(console))
        print(f"the failed page is kept in {folder}")
    context.close()


@pytest.fixture(scope="session")
def duckdb_org(make_org_with_roles: Callable[..., OrgWithRoles], client: TestClient) -> OrgWithRoles:
    """An org with one member per role and an embedded DuckDB warehouse."""
    org = make_org_with_roles()
    saved = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "duckdb"}, headers=org.headers["account-manager"]
    )
    assert saved.status_code == 200, saved.text
    return org
