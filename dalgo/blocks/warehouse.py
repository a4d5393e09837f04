"""The org's warehouse as a Prefect block: its settings (secrets encrypted by Prefect) and what the
platform does with it, delegated to the backend of its `type` (`dalgo.blocks.warehouses`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator
from sqlalchemy import Engine

from dalgo.blocks.warehouses import backend_class
from dalgo.blocks.warehouses.base import DBT_THREADS, MASK, CheckResult, Preview, TableRef, WarehouseBackend
from dalgo.naming import WAREHOUSE_BLOCK_TYPE

WarehouseType = Literal["postgres", "bigquery", "duckdb"]

PUBLIC_NAMES: dict[str, str] = {"schema_name": "schema"}
"""Fields shown under another name in the public (masked) view."""


class WarehouseBlock(Block):
    """One org's warehouse: PostgreSQL, BigQuery or DuckDB. Only the fields of its `type` are used."""

    _block_type_name: ClassVar[str | None] = "Dalgo Warehouse"
    _block_type_slug: ClassVar[str | None] = WAREHOUSE_BLOCK_TYPE
    _description: ClassVar[str | None] = (
        "An organization's data warehouse (PostgreSQL, BigQuery or DuckDB): where syncs write, "
        "where dbt transforms run and what the platform previews."
    )

    type: WarehouseType = Field(description="The kind of warehouse.")
    host: str | None = Field(default=None, description="PostgreSQL: the server's host name or address.")
    port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL: the server's port.")
    database: str | None = Field(default=None, description="PostgreSQL: the database name.")
    user: str | None = Field(default=None, description="PostgreSQL: the role to connect as.")
    password: SecretStr | None = Field(default=None, description="PostgreSQL: the role's password.")
    schema_name: str | None = Field(
        default=None,
        description='PostgreSQL and DuckDB: the default schema ("public" and "main" when unset).',
    )
    project: str | None = Field(default=None, description="BigQuery: the Google Cloud project id.")
    dataset: str | None = Field(default=None, description="BigQuery: the default dataset.")
    location: str = Field(default="US", description="BigQuery: where the datasets and jobs live.")
    credentials_json: SecretStr | None = Field(
        default=None, description="BigQuery: a service-account key, the JSON file's contents."
    )
    path: str | None = Field(default=None, description="DuckDB: the absolute path of the .duckdb file.")

    @model_validator(mode="after")
    def _usable_for_its_type(self) -> Self:
        problems = backend_class(self.type).problems(self._values())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields}

    def backend(self) -> WarehouseBackend:
        """The backend of this warehouse's type, holding this block's settings."""
        return backend_class(self.type).from_values(self._values())

    def dbt_target(self, schema: str | None = None, threads: int = DBT_THREADS) -> dict[str, Any]:
        """The dbt `profiles.yml` output (target) for this warehouse, secrets in plain text: write it
        only to a private file. `schema` overrides the target schema (a BigQuery dataset)."""
        return self.backend().dbt_target(schema, threads)

    def engine(self) -> Engine:
        """A new SQLAlchemy engine for the platform's own queries; dispose of it after use."""
        return self.backend().engine()

    def check(self) -> CheckResult:
        """Connect and run a trivial query; a failure comes back as `ok=False` and a reason without
        secrets, never as an exception."""
        return self.backend().check()

    def list_tables(self) -> list[TableRef]:
        """Every table and view outside the system schemas, sorted."""
        return self.backend().list_tables()

    def preview(self, schema: str, table: str, limit: int = 100) -> Preview:
        """The first `limit` rows of a table, as JSON-serialisable values.

        Raises UnknownTableError when the warehouse's catalogue has no such table; no query names it
        before that check.
        """
        return self.backend().preview(schema, table, limit)

    def masked(self) -> dict[str, Any]:
        """The public view: the type and its own fields only, each secret shown as a mask when set."""
        backend = self.backend()
        shown: dict[str, Any] = {"type": self.type}
        for name in backend.field_names():
            value = getattr(backend, name)
            if isinstance(value, SecretStr):
                value = MASK
            shown[PUBLIC_NAMES.get(name, name)] = value
        return shown
