"""Request bodies of the warehouse routes: one schema per warehouse type, chosen by `type`."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$"


class _Config(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class PostgresWarehouseCreate(_Config):
    """A Postgres warehouse; leave `password` out to keep the saved one."""

    type: Literal["postgres"]
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = Field(min_length=1, max_length=63)
    user: str = Field(min_length=1, max_length=63)
    password: SecretStr | None = None
    schema_name: str = Field(default="public", alias="schema", pattern=IDENTIFIER)


class BigQueryWarehouseCreate(_Config):
    """A BigQuery warehouse; `credentials_json` is a service-account key (text or object)."""

    type: Literal["bigquery"]
    project: str = Field(min_length=1, max_length=100)
    dataset: str = Field(min_length=1, max_length=1024, pattern=IDENTIFIER)
    location: str = Field(default="US", min_length=1, max_length=64)
    credentials_json: SecretStr | None = None

    @field_validator("credentials_json", mode="before")
    @classmethod
    def _object_to_text(cls, value: Any) -> Any:
        return json.dumps(value) if isinstance(value, dict) else value


class DuckDBWarehouseCreate(_Config):
    """The embedded DuckDB warehouse: a file in the org's own folder on this machine."""

    type: Literal["duckdb"]
    path: str = Field(default="warehouse.duckdb", min_length=1, max_length=255)
    schema_name: str = Field(default="main", alias="schema", pattern=IDENTIFIER)

    @field_validator("path")
    @classmethod
    def _inside_the_org_folder(cls, value: str) -> str:
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(
                "The DuckDB path is a file name inside the organization's own folder, like warehouse.duckdb."
            )
        if path.suffix != ".duckdb":
            raise ValueError("The DuckDB file name must end with .duckdb.")
        return str(path)


WarehouseCreate = Annotated[
    PostgresWarehouseCreate | BigQueryWarehouseCreate | DuckDBWarehouseCreate, Field(discriminator="type")
]


class TablePublic(BaseModel):
    schema_name: str = Field(serialization_alias="schema")
    table: str


class TablePreviewPublic(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
