"""Sources and connections made through the API, as a pipeline manager."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.accounts import OrgWithRoles


def make_connection(client: TestClient, org: OrgWithRoles) -> str:
    """A connection of a source-faker source (five people) to the `raw` schema; its id."""
    headers = org.headers["pipeline-manager"]
    source = client.post(
        f"/api/v1/orgs/{org.slug}/sources",
        json={"name": "Fake", "definition": "source-faker", "config": {"count": 5}},
        headers=headers,
    )
    assert source.status_code == 201, source.text
    connection = client.post(
        f"/api/v1/orgs/{org.slug}/connections",
        json={
            "name": "People",
            "source_id": source.json()["id"],
            "streams": ["users"],
            "destination_schema": "raw",
        },
        headers=headers,
    )
    assert connection.status_code == 201, connection.text
    return str(connection.json()["id"])


def add_source(client: TestClient, org: OrgWithRoles, definition: str, config: dict[str, object]) -> str:
    """A source of the connector `definition` with this config; its id."""
    response = client.post(
        f"/api/v1/orgs/{org.slug}/sources",
        json={"name": definition, "definition": definition, "config": config},
        headers=org.headers["pipeline-manager"],
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def add_connection(
    client: TestClient, org: OrgWithRoles, source_id: str, streams: list[str] | None, schema: str
) -> str:
    """A connection of the source's streams (all when None) to `schema`; its id."""
    response = client.post(
        f"/api/v1/orgs/{org.slug}/connections",
        json={"name": "Sync", "source_id": source_id, "streams": streams, "destination_schema": schema},
        headers=org.headers["pipeline-manager"],
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
