"""Request bodies of the warehouse routes: one schema per warehouse type, chosen by `type`."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from dalgo.blocks.warehouses.duckdb import DUCKDB_SUFFIX, is_plain_file_name

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
    """The embedded DuckDB warehouse: a file directly inside the org's own folder on this machine,
    named by a plain file name (no folders: the server chooses the place, never inside the dbt
    checkout, and refuses symbolic links)."""

    type: Literal["duckdb"]
    path: str = Field(default="warehouse.duckdb", min_length=1, max_length=255)
    schema_name: str = Field(default="main", alias="schema", pattern=IDENTIFIER)

    @field_validator("path")
    @classmethod
    def _inside_the_org_folder(cls, value: str) -> str:
        if not value.endswith(DUCKDB_SUFFIX):
            raise ValueError("The DuckDB file name must end with .duckdb.")
        if not is_plain_file_name(value):
            raise ValueError(
                "The DuckDB path is a file name inside the organization's own folder, like warehouse.duckdb: "
                "letters, digits, '_', '.' and '-', without folders."
            )
        return value


WarehouseCreate = Annotated[
    PostgresWarehouseCreate | BigQueryWarehouseCreate | DuckDBWarehouseCreate, Field(discriminator="type")
]


class TablePublic(BaseModel):
    schema_name: str = Field(serialization_alias="schema")
    table: str


class TablePreviewPublic(BaseModel):
    columns: list[str]
    rows: list[list[Any]]


class PostgresWarehousePublic(BaseModel):
    """A saved Postgres warehouse; the password is masked."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["postgres"]
    host: str
    port: int
    database: str
    user: str
    password: str | None = Field(description="`********` when a password is saved, else null.")
    schema_name: str = Field(alias="schema")


class BigQueryWarehousePublic(BaseModel):
    """A saved BigQuery warehouse; the service-account key is masked."""

    type: Literal["bigquery"]
    project: str
    dataset: str
    location: str
    credentials_json: str = Field(description="Always `********`: the key is never shown.")


class DuckDBWarehousePublic(BaseModel):
    """The saved DuckDB warehouse: the file's absolute path on the platform's machine."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["duckdb"]
    path: str
    schema_name: str = Field(alias="schema")


WarehousePublic = Annotated[
    PostgresWarehousePublic | BigQueryWarehousePublic | DuckDBWarehousePublic, Field(discriminator="type")
]
