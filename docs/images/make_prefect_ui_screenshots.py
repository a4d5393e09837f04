"""Make the Prefect UI screenshots of docs/operations.md (docs/images/prefect-ui-*.png).

It needs a running local stack that has run the demo: in one terminal `uv run dalgo demo --serve`
(or `make demo` once, then `uv run dalgo serve`), then in another

    uv run python docs/images/make_prefect_ui_screenshots.py --home .dalgo

with --prefect-ui and --api when the stack is not on the default ports. Through the Dalgo API (as
the demo's user) it pauses the org's first pipeline for one picture and resumes it afterwards
(and with --run-pipeline runs it once more first); through Prefect's API it starts a maintenance
run by hand (`free-stale-locks`), as an operator would from the UI. Then headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright) signs in to the Prefect UI with the stack's
credential and takes each picture, after checking that the page shows what it should (not an
error page or an empty list).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, ViewportSize, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
"""Software WebGL, so that the run graphs draw in a headless browser."""
VIEWPORT: ViewportSize = {"width": 1440, "height": 1100}
PAUSE_SWITCH = "Pause or resume all schedules"
GRAPH_SETTLE_MS = 2_000
"""A run page's graph is drawn on a canvas (no text to wait for): after its recentre button is
pressed, it has moved to fit the run within this time."""
PAGE_TIMEOUT_MS = 60_000
RUN_TIMEOUT_S = 300.0
BUSY_RETRY_S = 120.0
MAINTENANCE = "free-stale-locks/free-stale-locks"
ERROR_TEXTS = ("Can't connect", "Failed to load", "Not Found", "Unauthorized")
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
RAN = "Completed,Failed,Crashed,Cancelled,Running"


class PatientTransport(httpx.HTTPTransport):
    """Tries a request again while the server answers 503 (Prefect on SQLite is busy at times)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + BUSY_RETRY_S
        while True:
            response = super().handle_request(request)
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
            response.close()
            time.sleep(2)


@dataclass(frozen=True)
class Stack:
    """Where the stack is, and the credentials this script uses."""

    prefect_ui: str
    api: str
    org: str
    auth_string: str
    login: dict[str, str]

    @property
    def prefect_api(self) -> str:
        return f"{self.prefect_ui}/api"

    def prefect(self) -> httpx.Client:
        """A client of Prefect's API, with its credential."""
        user, _, password = self.auth_string.partition(":")
        return httpx.Client(
            base_url=self.prefect_api, auth=(user, password), timeout=60, transport=PatientTransport()
        )

    @contextmanager
    def dalgo(self) -> Iterator[httpx.Client]:
        """A client of the Dalgo API, signed in as the demo's user."""
        with httpx.Client(base_url=f"{self.api}/api/v1", timeout=120, transport=PatientTransport()) as client:
            token = client.post("/auth/login", json=self.login)
            token.raise_for_status()
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            yield client


def read_stack(args: argparse.Namespace) -> Stack:
    """The stack's addresses from the options, its credentials from DALGO_HOME."""
    home = Path(args.home).expanduser().resolve()
    auth = os.environ.get("PREFECT_API_AUTH_STRING") or (home / "prefect-api-auth").read_text().strip()
    logins = json.loads((home / "demo" / "logins.json").read_text())
    login = {"email": logins["user"]["email"], "password": logins["user"]["password"]}
    return Stack(args.prefect_ui.rstrip("/"), args.api.rstrip("/"), args.org, auth, login)


def wait_for_run(stack: Stack, run_id: str) -> None:
    """Wait until a flow run has ended."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with stack.prefect() as prefect:
        while prefect.get(f"/flow_runs/{run_id}").json()["state"]["type"] not in FINAL:
            if time.monotonic() > deadline:
                sys.exit(f"the run {run_id} did not end within {RUN_TIMEOUT_S:.0f} s")
            time.sleep(2)


def run_maintenance(stack: Stack) -> str:
    """Start a maintenance deployment's run by hand and wait until it ends; its flow run id."""
    with stack.prefect() as prefect:
        deployment = prefect.get(f"/deployments/name/{MAINTENANCE}")
        deployment.raise_for_status()
        run = prefect.post(f"/deployments/{deployment.json()['id']}/create_flow_run", json={})
        run.raise_for_status()
    run_id: str = run.json()["id"]
    wait_for_run(stack, run_id)
    return run_id


def first_pipeline(stack: Stack, dalgo: httpx.Client) -> dict[str, Any]:
    """The org's first pipeline, as the Dalgo API lists it."""
    pipelines = dalgo.get(f"/orgs/{stack.org}/pipelines")
    pipelines.raise_for_status()
    if not pipelines.json()["data"]:
        sys.exit(f"org {stack.org!r} has no pipeline: run `dalgo demo` first")
    pipeline: dict[str, Any] = pipelines.json()["data"][0]
    return pipeline


def run_pipeline(stack: Stack) -> None:
    """Run the org's first pipeline now through the Dalgo API and wait until it ends."""
    with stack.dalgo() as dalgo:
        pipeline = first_pipeline(stack, dalgo)
        started = dalgo.post(f"/orgs/{stack.org}/pipelines/{pipeline['id']}/run")
        started.raise_for_status()
    wait_for_run(stack, started.json()["flow_run_id"])


def pipeline_run(stack: Stack) -> str:
    """The id of the org's latest pipeline run (a top-level run: its steps are its subflows)."""
    body = {
        "flow_runs": {
            "tags": {"all_": [f"org:{stack.org}", "kind:pipeline"]},
            "state": {"type": {"any_": ["COMPLETED", "FAILED"]}},
        },
        "sort": "START_TIME_DESC",
        "limit": 1,
    }
    with stack.prefect() as prefect:
        runs = prefect.post("/flow_runs/filter", json=body)
        runs.raise_for_status()
    if not runs.json():
        sys.exit(f"org {stack.org!r} has no finished pipeline run: run `dalgo demo` first")
    run_id: str = runs.json()[0]["id"]
    return run_id


@contextmanager
def paused_pipeline(stack: Stack) -> Iterator[tuple[str, str]]:
    """Pause the org's first pipeline through the Dalgo API for the duration (resumed after, unless
    it was paused before); yields its name and its Prefect deployment's id."""
    with stack.dalgo() as dalgo:
        pipeline = first_pipeline(stack, dalgo)
        was_paused = bool(pipeline["paused"])
        if not was_paused:
            dalgo.post(f"/orgs/{stack.org}/pipelines/{pipeline['id']}/pause").raise_for_status()
        name = f"{stack.org}--pipeline-{pipeline['id'].replace('-', '')}"
        with stack.prefect() as prefect:
            deployment = prefect.get(f"/deployments/name/pipeline/{name}")
            deployment.raise_for_status()
        try:
            yield pipeline["name"], deployment.json()["id"]
        finally:
            if not was_paused:
                dalgo.post(f"/orgs/{stack.org}/pipelines/{pipeline['id']}/resume").raise_for_status()


def sign_in(page: Page, stack: Stack) -> None:
    """Open the UI and sign in with the stack's Prefect credential, as an operator does."""
    page.goto(stack.prefect_ui + "/", wait_until="networkidle")
    page.get_by_placeholder("admin:pass").fill(stack.auth_string)
    page.get_by_role("button", name="Login").click()
    page.get_by_role("link", name="Runs").first.wait_for(timeout=PAGE_TIMEOUT_MS)


def shoot(
    page: Page,
    stack: Stack,
    path: str,
    expect: list[str],
    out: Path,
    paused: bool = False,
    graph: bool = False,
) -> None:
    """Open a page, wait until it shows every text of `expect` and no error, and save a picture;
    with `paused`, the page's switch of all schedules must show them paused; with `graph`, the
    run graph is recentred on the whole run first."""
    page.goto(stack.prefect_ui + path, wait_until="networkidle")
    for text in expect:
        page.get_by_text(text).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    if paused:
        switch = page.get_by_role("switch", name=PAUSE_SWITCH)
        switch.wait_for(timeout=PAGE_TIMEOUT_MS)
        if switch.get_attribute("aria-checked") != "false":
            sys.exit(f"{path} does not show the deployment paused: not taking {out.name}")
    page.wait_for_load_state("networkidle")
    if graph:
        canvas = page.locator("canvas").first
        canvas.wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_load_state("networkidle")
        canvas.locator("xpath=ancestor::*[.//button][1]").locator("button").first.click()
        page.wait_for_timeout(GRAPH_SETTLE_MS)
    body = page.inner_text("body")
    errors = [text for text in ERROR_TEXTS if text in body]
    if errors:
        sys.exit(f"{path} shows {errors}: not taking {out.name}")
    page.screenshot(path=str(out))
    print(f"{out}  <- {stack.prefect_ui}{path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", default=os.environ.get("DALGO_HOME", ".dalgo"), help="the stack's DALGO_HOME"
    )
    parser.add_argument("--prefect-ui", default="http://127.0.0.1:4200", help="the Prefect UI's address")
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="the Dalgo API's address")
    parser.add_argument("--org", default="demo", help="the org whose runs are shown")
    parser.add_argument("--out", default=str(Path(__file__).parent), help="where the pictures go")
    parser.add_argument("--run-pipeline", action="store_true", help="run the org's pipeline once more first")
    args = parser.parse_args()
    stack = read_stack(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    org_tag = f"org:{stack.org}"

    if args.run_pipeline:
        run_pipeline(stack)
    maintenance_run = run_maintenance(stack)
    run_id = pipeline_run(stack)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(stack.prefect_ui + "/", wait_until="networkidle")
        page.get_by_placeholder("admin:pass").wait_for(timeout=PAGE_TIMEOUT_MS)
        page.screenshot(path=str(out / "prefect-ui-sign-in.png"))
        sign_in(page, stack)
        runs = f"/v2/runs?tags={org_tag}&state={RAN}"
        shoot(page, stack, runs, [org_tag, "step1"], out / "prefect-ui-org-runs.png")
        pipeline_page = f"/v2/runs/flow-run/{run_id}?tab=Logs"
        shoot(
            page,
            stack,
            pipeline_page,
            ["Completed", "Subflow Runs"],
            out / "prefect-ui-pipeline-run.png",
            graph=True,
        )
        shoot(
            page,
            stack,
            "/v2/deployments",
            [f"{stack.org}--pipeline-", "free-stale-locks"],
            out / "prefect-ui-deployments.png",
        )
        with paused_pipeline(stack) as (_, deployment_id):
            shoot(
                page,
                stack,
                f"/v2/deployments/deployment/{deployment_id}",
                ["Completed"],
                out / "prefect-ui-paused-pipeline.png",
                paused=True,
            )
        maintenance = f"/v2/runs?tags=kind:maintenance&state={RAN}"
        shoot(page, stack, maintenance, ["free-stale-locks"], out / "prefect-ui-maintenance-runs.png")
        shoot(
            page,
            stack,
            f"/v2/runs/flow-run/{maintenance_run}",
            ["Completed"],
            out / "prefect-ui-maintenance-run.png",
            graph=True,
        )
        shoot(page, stack, "/v2/concurrency-limits", ["lock:"], out / "prefect-ui-concurrency.png")
        browser.close()


if __name__ == "__main__":
    main()
