"""Running the demo pipeline once, following it through `GET /runs/{id}`, and the summary: rows
per table (from the warehouse tables API) and the time of each step (from the run's steps)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dalgo.demo.client import Api, DemoError
from dalgo.demo.objects import ORG_SLUG
from dalgo.demo.progress import DemoSteps, DemoStepView

FINISHED = {"completed", "completed_with_warnings", "failed", "crashed", "cancelled"}
SUCCEEDED = {"completed", "completed_with_warnings"}
POLL_S = 2.0
PREVIEW_LIMIT = 1000
INTERNAL_PREFIX = "_airbyte"
WAREHOUSE_BUSY_S = 60.0
STEP_NAME_PREFIX = f"{ORG_SLUG}--"


@dataclass(frozen=True)
class TableRows:
    """A table of the warehouse and its rows (`capped`: at least this many)."""

    schema: str
    table: str
    rows: int
    capped: bool

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class RunStepTime:
    """A step of the run, its state and how long it took (None while it has not ended)."""

    name: str
    state: str
    seconds: float | None


def start_run(api: Api, pipeline_id: str, prefect_ui: str) -> str:
    """Start the pipeline now; its flow run id."""
    response = api.call("POST", f"/orgs/{ORG_SLUG}/pipelines/{pipeline_id}/run", {202, 409})
    body = response.json()
    if response.status_code == 409:
        holder = body.get("holder_run_id")
        raise DemoError(
            f"The pipeline cannot start now: {body['detail']} If an earlier demo was killed while "
            f"that run went on, set it to Cancelled in the Prefect UI ({prefect_ui}/runs/flow-run/{holder}) "
            "and run the demo again."
        )
    return str(body["flow_run_id"])


def _seconds(step: dict[str, Any]) -> float | None:
    if not step.get("start_time") or not step.get("end_time"):
        return None
    start = datetime.fromisoformat(step["start_time"])
    return (datetime.fromisoformat(step["end_time"]) - start).total_seconds()


def run_step_times(run: dict[str, Any]) -> list[RunStepTime]:
    """The run's steps (its subflow runs, or its tasks when it has none) with their durations."""
    steps = [s for s in run["steps"] if s["type"] == "flow"] or run["steps"]
    return [RunStepTime(s["name"], s["state"], _seconds(s)) for s in steps]


def follow_run(
    api: Api, run_id: str, steps: DemoSteps, view: DemoStepView, timeout_s: float
) -> dict[str, Any]:
    """Poll the run until it ends, showing its current step and printing each step as it ends."""
    deadline = time.monotonic() + timeout_s
    reported: set[str] = set()
    while True:
        run: dict[str, Any] = api.get(f"/orgs/{ORG_SLUG}/runs/{run_id}")
        times = run_step_times(run)
        for step in times:
            if step.state in FINISHED and step.name not in reported:
                reported.add(step.name)
                took = f"{step.seconds:.1f} s" if step.seconds is not None else "?"
                steps.note(f"step {step.name}: {step.state} in {took}")
        going = [s for s in times if s.state not in FINISHED]
        detail = f"{going[0].name.removeprefix(STEP_NAME_PREFIX)} {going[0].state}" if going else run["state"]
        view.update(f"{len(reported)} done, {detail}", completed=len(reported))
        if run["state"] in FINISHED:
            return run
        if time.monotonic() > deadline:
            raise DemoError(f"The pipeline run {run_id} did not end within {timeout_s:.0f} s.")
        api.pause(POLL_S)


def error_lines(api: Api, run_id: str, limit: int = 20) -> list[str]:
    """The last error lines of the run's logs."""
    page = api.get(f"/orgs/{ORG_SLUG}/runs/{run_id}/logs", {"level": "error", "limit": 200})
    return [f"{e.get('step') or 'run'}: {e['message']}" for e in page["data"]][-limit:]


def _read(api: Api, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET a warehouse route, retrying while the warehouse answers 502: an embedded DuckDB file
    stays locked by the run's process for a moment after the run ends."""
    deadline = time.monotonic() + WAREHOUSE_BUSY_S
    while True:
        response = api.call("GET", path, {200, 502}, params=params)
        if response.status_code == 200:
            return response.json()
        if time.monotonic() > deadline:
            raise DemoError(f"GET {path} answered 502: {response.json().get('detail')}")
        api.pause(1.0)


def table_rows(api: Api) -> list[TableRows]:
    """Rows of each table of the warehouse (counted from a preview of up to 1000 rows; Airbyte's
    own bookkeeping tables left out)."""
    found: list[TableRows] = []
    for item in _read(api, f"/orgs/{ORG_SLUG}/warehouse/tables"):
        schema, table = item["schema"], item["table"]
        if table.startswith(INTERNAL_PREFIX):
            continue
        path = f"/orgs/{ORG_SLUG}/warehouse/tables/{schema}/{table}"
        rows = len(_read(api, path, {"limit": PREVIEW_LIMIT})["rows"])
        found.append(TableRows(schema, table, rows, rows >= PREVIEW_LIMIT))
    return sorted(found, key=lambda t: (t.schema, t.table))
