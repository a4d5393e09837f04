"""A PostgreSQL warehouse, reached with psycopg2 (the platform) and dbt-postgres (transforms)."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretStr
from sqlalchemy import URL, Engine, create_engine

from dalgo.blocks.warehouses.base import DBT_THREADS, WarehouseBackend

CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "dalgo"
NO_PASSWORD_FILE = str(Path(os.devnull) / "pgpass")
"""A password file path that cannot exist (libpq warns about /dev/null itself, not about this)."""

_CONNECTION_FAILED = re.compile(
    r'^connection to server (?:at "(?P<host>[^"]*)"(?: \([^)]*\))?, port (?P<port>\d+)'
    r'|on socket "(?P<socket>[^"]*)") failed: (?P<reason>.*)$'
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PostgresBackend(WarehouseBackend):
    """A PostgreSQL database; the org's data lives in `schema_name` (dbt may write to others)."""

    label: ClassVar[str] = "PostgreSQL"
    system_schemas: ClassVar[frozenset[str]] = frozenset({"information_schema", "pg_catalog", "pg_toast"})

    host: str
    port: int = 5432
    database: str
    user: str
    password: SecretStr | None = None
    schema_name: str = "public"

    def url(self) -> URL:
        """The SQLAlchemy URL (psycopg2 driver); the password is escaped by `URL.create`."""
        return URL.create(
            "postgresql+psycopg2",
            username=self.user,
            password=self.password.get_secret_value() if self.password else None,
            host=self.host,
            port=self.port,
            database=self.database,
        )

    def engine(self) -> Engine:
        """An engine that gives up connecting after a few seconds.

        With no password set, an empty one is sent and no password file is read, so libpq never
        falls back to the platform's own PGPASSWORD or ~/.pgpass.
        """
        connect_args: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": APPLICATION_NAME,
            "passfile": NO_PASSWORD_FILE,
        }
        if self.password is None:
            connect_args["password"] = ""
        return create_engine(self.url(), connect_args=connect_args, pool_pre_ping=True)

    def dbt_target(self, schema: str | None = None, threads: int = DBT_THREADS) -> dict[str, Any]:
        """The dbt-postgres output."""
        return {
            "type": "postgres",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password.get_secret_value() if self.password else "",
            "dbname": self.database,
            "schema": schema or self.schema_name,
            "threads": threads,
            "connect_timeout": CONNECT_TIMEOUT_S,
        }

    def is_system_schema(self, schema: str) -> bool:
        """information_schema, and every `pg_` schema (catalog, toast, temporary ones)."""
        return super().is_system_schema(schema) or schema.lower().startswith("pg_")

    def humanize(self, reason: str) -> str:
        """libpq's `connection to server at "h", port p failed: X` as the server's own words (for a
        refusal by the server, e.g. `database "y" does not exist`) or `could not connect to h:p (X)`."""
        match = _CONNECTION_FAILED.match(reason)
        if match is None:
            return reason
        detail = match["reason"].strip()
        if detail.startswith("FATAL:"):
            return detail.removeprefix("FATAL:").strip()
        where = match["socket"] or f"{match['host']}:{match['port']}"
        return f"could not connect to {where} ({detail})"
