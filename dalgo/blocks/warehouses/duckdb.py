"""The embedded DuckDB warehouse: one file on this machine, reached with duckdb-engine and dbt-duckdb.

A DuckDB file admits one writing process at a time: while a dbt run or a sync writes to it, another
process's connection fails with DuckDB's lock message, which the check reports as such.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import URL, Connection, Engine, create_engine, text
from sqlalchemy.engine import Inspector
from sqlalchemy.pool import NullPool

from dalgo.blocks.warehouses.base import DBT_THREADS, CheckResult, WarehouseBackend


@dataclasses.dataclass(frozen=True, kw_only=True)
class DuckDBBackend(WarehouseBackend):
    """A DuckDB file at an absolute `path`; the org's data lives in `schema_name`."""

    label: ClassVar[str] = "DuckDB"
    system_schemas: ClassVar[frozenset[str]] = frozenset({"information_schema", "pg_catalog"})

    path: str
    schema_name: str = "main"

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[str]:
        """Besides the required fields, the path must be absolute."""
        problems = super().problems(values)
        path = values.get("path")
        if isinstance(path, str) and path and not Path(path).is_absolute():
            problems.append(f"the DuckDB path must be absolute, not {path!r}")
        return problems

    def engine(self) -> Engine:
        """An engine without a pool, so the file is released as soon as a connection closes."""
        return create_engine(URL.create("duckdb", database=self.path), poolclass=NullPool)

    def dbt_target(self, schema: str | None = None, threads: int = DBT_THREADS) -> dict[str, Any]:
        """The dbt-duckdb output."""
        return {
            "type": "duckdb",
            "path": self.path,
            "schema": schema or self.schema_name,
            "threads": threads,
        }

    def check(self) -> CheckResult:
        """Make the parent folder if needed, then open (creating it when missing) the file."""
        folder = Path(self.path).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            return CheckResult(ok=False, message=f"cannot create the folder {folder}: a file has that name")
        except OSError as exc:
            return CheckResult(ok=False, message=f"cannot create the folder {folder}: {exc.strerror or exc}")
        if Path(self.path).is_dir():
            return CheckResult(ok=False, message=f"{self.path} is a folder, not a DuckDB file")
        return super().check()

    def humanize(self, reason: str) -> str:
        """DuckDB's lock conflict as a sentence; other messages without the `IO Error:` prefix."""
        if "Could not set lock on file" in reason:
            holder = re.search(r"\(PID (\d+)\)", reason)
            by = f" (process {holder.group(1)})" if holder else ""
            return (
                f"the DuckDB file {self.path} is in use by another process{by}: "
                "only one process at a time can open it for writing"
            )
        return reason.removeprefix("IO Error: ")

    def schema_names(self, connection: Connection, inspector: Inspector) -> list[str]:
        """The schemas of the file's own database (not DuckDB's `system` and `temp` databases)."""
        rows = connection.execute(
            text("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()")
        )
        return [name for (name,) in rows if not self.is_system_schema(name)]

    def is_system_schema(self, schema: str) -> bool:
        """information_schema, pg_catalog and every `pg_` schema."""
        return super().is_system_schema(schema) or schema.lower().startswith("pg_")
