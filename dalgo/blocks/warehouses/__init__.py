"""Warehouse backends, one module each, behind the `WarehouseBackend` interface of `base`.

Adding a warehouse type is a new module with a `WarehouseBackend` subclass, one entry in `BACKENDS`,
its name in `WarehouseBlock.type` and its fields on the block.
"""

from __future__ import annotations

from dalgo.blocks.warehouses.base import (
    CheckResult,
    Preview,
    TableRef,
    UnknownTableError,
    WarehouseBackend,
    error_reason,
    json_value,
)
from dalgo.blocks.warehouses.bigquery import BigQueryBackend
from dalgo.blocks.warehouses.duckdb import DuckDBBackend
from dalgo.blocks.warehouses.postgres import PostgresBackend

BACKENDS: dict[str, type[WarehouseBackend]] = {
    "postgres": PostgresBackend,
    "bigquery": BigQueryBackend,
    "duckdb": DuckDBBackend,
}


def backend_class(warehouse_type: str) -> type[WarehouseBackend]:
    """The backend of a warehouse type; raises ValueError for an unknown type."""
    try:
        return BACKENDS[warehouse_type]
    except KeyError:
        raise ValueError(f"unknown warehouse type {warehouse_type!r}") from None


__all__ = [
    "BACKENDS",
    "BigQueryBackend",
    "CheckResult",
    "DuckDBBackend",
    "PostgresBackend",
    "Preview",
    "TableRef",
    "UnknownTableError",
    "WarehouseBackend",
    "backend_class",
    "error_reason",
    "json_value",
]
