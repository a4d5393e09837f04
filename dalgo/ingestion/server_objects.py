"""What an org's objects are called and configured as in its Airbyte workspace.

The workspace is the home of the org's sources, destination and connections on an Airbyte server:
Dalgo finds them by name (`dalgo-source-<id>`, `dalgo-warehouse`, `dalgo-connection-<id>`) rather
than keeping their ids, so there is nothing to get out of step.
"""

from __future__ import annotations

import json
from typing import Any

from dalgo.blocks.warehouse import WarehouseBlock

DESTINATION_NAME = "dalgo-warehouse"


class UnsupportedDestinationError(ValueError):
    """The org's warehouse cannot be written by an Airbyte server."""


def source_name(source_id: str) -> str:
    return f"dalgo-source-{source_id}"


def connection_name(connection_id: str) -> str:
    return f"dalgo-connection-{connection_id}"


def source_configuration(definition: str, config: dict[str, Any]) -> dict[str, Any]:
    """A source's configuration as the public API takes it: the connector named by `sourceType`."""
    return {**config, "sourceType": definition.removeprefix("source-")}


def destination_configuration(warehouse: WarehouseBlock) -> dict[str, Any]:
    """The org's warehouse as an Airbyte destination (Postgres or BigQuery)."""
    if warehouse.type == "postgres":
        return {
            "destinationType": "postgres",
            "host": warehouse.host,
            "port": warehouse.port,
            "database": warehouse.database,
            "schema": warehouse.schema_name or "public",
            "username": warehouse.user,
            "password": warehouse.password.get_secret_value() if warehouse.password else "",
            "ssl_mode": {"mode": "prefer"},
        }
    if warehouse.type == "bigquery":
        return {
            "destinationType": "bigquery",
            "project_id": warehouse.project,
            "dataset_id": warehouse.dataset,
            "dataset_location": warehouse.location,
            "credentials_json": warehouse.credentials_json.get_secret_value()
            if warehouse.credentials_json
            else "",
            "loading_method": {"method": "Standard"},
        }
    raise UnsupportedDestinationError(
        f"An Airbyte server cannot write into a {warehouse.type} warehouse: it lives on the platform's own "
        "machine. Use a Postgres or BigQuery warehouse, or the embedded engine."
    )


def redact(text: str, secrets: list[str]) -> str:
    """The text with every secret value (and its JSON-escaped form) replaced by asterisks."""
    for value in secrets:
        if len(value) >= 4:
            text = text.replace(value, "********").replace(json.dumps(value)[1:-1], "********")
    return text
