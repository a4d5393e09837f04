"""The demo org and what it holds, made through the web API (or found, when a run made them
before): the org, its DuckDB warehouse, a source-faker source and connection, the example dbt
project as its dbt workspace, and the daily pipeline."""

from __future__ import annotations

from typing import Any

from dalgo.demo.client import Api, DemoError

ORG_SLUG = "demo"
ORG_NAME = "Demo NGO"
TIMEZONE = "Asia/Kolkata"
DAILY_CRON = "0 6 * * *"
SOURCE_NAME = "Demo sample data"
SOURCE_CONFIG = {"count": 200, "seed": 42, "parallelism": 1}
STREAMS = ["users", "products", "purchases"]
RAW_SCHEMA = "raw"
CONNECTION_NAME = "Demo sample data to raw"
TARGET_SCHEMA = "analytics"
PIPELINE_NAME = "Demo daily"


def _find(api: Api, path: str, name: str) -> dict[str, Any] | None:
    """The org's object of this name in a paginated collection, or None."""
    offset = 0
    while True:
        page = api.get(path, {"limit": 200, "offset": offset})
        for item in page["data"]:
            if item["name"] == name:
                return dict(item)
        offset += len(page["data"])
        if not page["data"] or offset >= page["count"]:
            return None


def ensure_org(admin: Api) -> str:
    """The demo org, made by the platform admin (who becomes its super-admin) unless it exists."""
    if admin.call("GET", f"/orgs/{ORG_SLUG}", {200, 404}).status_code == 200:
        return "reused"
    response = admin.call("POST", "/orgs", {201, 409}, json={"name": ORG_NAME, "slug": ORG_SLUG})
    if response.status_code == 409:
        raise DemoError(
            f"An org '{ORG_SLUG}' exists in this API database but the demo admin is not its member; "
            "run the demo with another DALGO_HOME or DALGO_DATABASE_URL."
        )
    return "made"


def ensure_warehouse(api: Api) -> str:
    """An embedded DuckDB warehouse, unless the org has a warehouse already."""
    found = api.call("GET", f"/orgs/{ORG_SLUG}/warehouse", {200, 404})
    if found.status_code == 200:
        return f"reused, {found.json().get('type')}"
    api.call("PUT", f"/orgs/{ORG_SLUG}/warehouse", {200}, json={"type": "duckdb"})
    return "made, duckdb"


def install_connector(api: Api) -> None:
    """Ask for source-faker's spec: its first use installs the connector."""
    api.call("GET", f"/orgs/{ORG_SLUG}/source-definitions/source-faker/spec", {200}, timeout_s=900)


def ensure_source(api: Api) -> tuple[str, str]:
    """The source-faker source; its id and what was done."""
    found = _find(api, f"/orgs/{ORG_SLUG}/sources", SOURCE_NAME)
    if found:
        return str(found["id"]), "reused"
    body = {"name": SOURCE_NAME, "definition": "source-faker", "config": SOURCE_CONFIG}
    made = api.call("POST", f"/orgs/{ORG_SLUG}/sources", {201}, json=body, timeout_s=900).json()
    return str(made["id"]), "made"


def ensure_connection(api: Api, source_id: str) -> tuple[str, str]:
    """The connection of the source's streams to the raw schema; its id and what was done."""
    found = _find(api, f"/orgs/{ORG_SLUG}/connections", CONNECTION_NAME)
    if found and str(found["source_id"]) == source_id:
        return str(found["id"]), "reused"
    if found:
        api.call("DELETE", f"/orgs/{ORG_SLUG}/connections/{found['id']}", {204})
    body = {
        "name": CONNECTION_NAME,
        "source_id": source_id,
        "streams": STREAMS,
        "destination_schema": RAW_SCHEMA,
    }
    made = api.call("POST", f"/orgs/{ORG_SLUG}/connections", {201}, json=body).json()
    return str(made["id"]), "made"


def save_dbt_workspace(api: Api, git_url: str) -> None:
    """Point the org's dbt workspace at the repository (a PUT: the same answer every time)."""
    body = {"git_url": git_url, "branch": "main", "project_dir": "", "target_schema": TARGET_SCHEMA}
    api.call("PUT", f"/orgs/{ORG_SLUG}/dbt", {200}, json=body)


def pipeline_body(connection_id: str) -> dict[str, Any]:
    return {
        "name": PIPELINE_NAME,
        "steps": [
            {"type": "sync", "connection_id": connection_id},
            {"type": "dbt", "command": "run"},
            {"type": "dbt", "command": "test"},
        ],
        "schedule": {"cron": DAILY_CRON, "timezone": TIMEZONE},
        "continue_on_sync_failure": False,
    }


def ensure_pipeline(api: Api, connection_id: str) -> tuple[str, str]:
    """The daily pipeline (sync, dbt run, dbt test); made, or updated to this definition."""
    body = pipeline_body(connection_id)
    found = _find(api, f"/orgs/{ORG_SLUG}/pipelines", PIPELINE_NAME)
    if found:
        api.call("PUT", f"/orgs/{ORG_SLUG}/pipelines/{found['id']}", {200}, json=body)
        if found.get("paused"):
            api.call("POST", f"/orgs/{ORG_SLUG}/pipelines/{found['id']}/resume", {200})
        return str(found["id"]), "reused"
    made = api.call("POST", f"/orgs/{ORG_SLUG}/pipelines", {201}, json=body).json()
    return str(made["id"]), "made"
