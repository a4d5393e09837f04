"""The bench's client of the web API: what a user would do to make an org, its warehouse, a
faker source, a connection, a dbt workspace and a pipeline, and to run and follow it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from dalgo.demo.repo import prepare_repository
from dalgo.settings import Settings

FINISHED = {"completed", "completed_with_warnings", "failed", "crashed", "cancelled"}
SUCCEEDED = {"completed", "completed_with_warnings"}
STREAMS = ["users", "products", "purchases"]
RAW_SCHEMA = "raw"
TARGET_SCHEMA = "analytics"
RETRY_S = 180.0
IDEMPOTENT = ("GET", "PUT")


class BenchError(RuntimeError):
    """The bench cannot go on; the message says why."""


def faker_config(rows: int, seed: int = 42) -> dict[str, Any]:
    """source-faker's config for `rows` users (and their purchases), one process, reproducible."""
    return {"count": rows, "seed": seed, "parallelism": 1}


def when(text: str | None) -> float | None:
    """An ISO time from the API as a Unix timestamp."""
    return datetime.fromisoformat(text).timestamp() if text else None


@dataclass
class ApiClient:
    """One signed-in caller of `/api/v1`."""

    http: httpx.Client

    @classmethod
    def login(cls, base: str, email: str, password: str) -> ApiClient:
        """Sign in at `base` (the API's `/api/v1`); BenchError when it is refused."""
        http = httpx.Client(base_url=base, timeout=300)
        response = http.post("/auth/login", json={"email": email, "password": password})
        if response.status_code != 200:
            raise BenchError(f"{email} could not sign in: {response.status_code} {response.text[:200]}")
        http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return cls(http)

    @property
    def token(self) -> str:
        """The `Authorization` header value this caller sends."""
        return str(self.http.headers["Authorization"])

    def close(self) -> None:
        """Close the HTTP connections (the token stays valid)."""
        self.http.close()

    def call(self, method: str, path: str, expect: int, body: Any = None) -> Any:
        """One request; BenchError unless it answers `expect`. A GET or PUT (the same again
        changes nothing) that answers 503 or not at all (Prefect busy on a loaded machine) is
        tried again for up to `RETRY_S`."""
        deadline = time.monotonic() + RETRY_S
        while True:
            try:
                response = self.http.request(method, path, json=body)
            except httpx.TransportError as error:
                if method not in IDEMPOTENT or time.monotonic() > deadline:
                    raise BenchError(f"{method} {path} did not answer: {error!r}") from error
                time.sleep(2)
                continue
            if method not in IDEMPOTENT or response.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(2)
        if response.status_code != expect:
            raise BenchError(f"{method} {path} answered {response.status_code}: {response.text[:400]}")
        return response.json() if response.content else None

    def make_org(self, slug: str) -> str:
        """A new org (the caller, a platform admin, becomes its super-admin); its slug."""
        self.call("POST", "/orgs", 201, {"name": f"Bench {slug}", "slug": slug})
        return slug

    def postgres_warehouse(self, org: str, url: str, schema: str = TARGET_SCHEMA) -> None:
        """Save the Postgres database at `url` as the org's warehouse, dbt building into `schema`."""
        body = {
            "type": "postgres",
            "host": "127.0.0.1",
            "port": int(httpx.URL(url).port or 5432),
            "database": url.rsplit("/", 1)[1],
            "user": "postgres",
            "password": "bench-password",
            "schema": schema,
        }
        self.call("PUT", f"/orgs/{org}/warehouse", 200, body)

    def faker_connection(self, org: str, rows: int, schema: str = RAW_SCHEMA) -> str:
        """A source-faker source and its connection of users, products and purchases; its id."""
        source = self.call(
            "POST",
            f"/orgs/{org}/sources",
            201,
            {"name": f"faker {rows}", "definition": "source-faker", "config": faker_config(rows)},
        )
        connection = self.call(
            "POST",
            f"/orgs/{org}/connections",
            201,
            {
                "name": f"faker {rows} to {schema}",
                "source_id": source["id"],
                "streams": STREAMS,
                "destination_schema": schema,
            },
        )
        return str(connection["id"])

    def example_dbt_workspace(self, org: str, settings: Settings) -> None:
        """The example dbt project (examples/dbt_project) as the org's git-backed dbt workspace."""
        url, _ = prepare_repository(settings.org_home(org))
        body = {"git_url": url, "branch": "main", "project_dir": "", "target_schema": TARGET_SCHEMA}
        self.call("PUT", f"/orgs/{org}/dbt", 200, body)

    def pipeline(self, org: str, steps: list[dict[str, Any]], schedule: dict[str, str] | None = None) -> str:
        """A new pipeline of these steps (manual unless a schedule is given); its id."""
        body = {"name": f"bench {uuid.uuid4().hex[:6]}", "steps": steps, "schedule": schedule}
        return str(self.call("POST", f"/orgs/{org}/pipelines", 201, body)["id"])

    def run_pipeline(self, org: str, pipeline_id: str) -> str:
        """Trigger the pipeline now; the flow run id."""
        return str(self.call("POST", f"/orgs/{org}/pipelines/{pipeline_id}/run", 202)["flow_run_id"])

    def wait(self, org: str, run_id: str, timeout_s: float, poll_s: float = 0.5) -> dict[str, Any]:
        """Follow the run through `GET /runs/{id}` until it ends; its detail."""
        deadline = time.monotonic() + timeout_s
        while True:
            run: dict[str, Any] = self.call("GET", f"/orgs/{org}/runs/{run_id}", 200)
            if run["state"] in FINISHED:
                return run
            if time.monotonic() > deadline:
                raise BenchError(f"run {run_id} of {org} still {run['state']} after {timeout_s:.0f} s")
            time.sleep(poll_s)

    def failure(self, org: str, run_id: str) -> str:
        """The run's error lines, to say why it failed."""
        logs = self.call("GET", f"/orgs/{org}/runs/{run_id}/logs?level=error&limit=200", 200)["data"]
        return " | ".join(entry["message"][:300] for entry in logs[-5:])
