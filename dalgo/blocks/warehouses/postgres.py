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

_UNRESOLVED = re.compile(r'^could not translate host name "(?P<host>[^"]*)" to address')
_KEPT_REFUSALS = tuple(
    re.compile(pattern)
    for pattern in (
        r'^database "[^"]*" does not exist$',
        r'^role "[^"]*" does not exist$',
        r'^password authentication failed for user "[^"]*"$',
        r'^permission denied for database "[^"]*"$',
        r'^database "[^"]*" is not currently accepting connections$',
        r'^role "[^"]*" is not permitted to log in$',
        r"^the database system is (?:starting up|shutting down|in recovery mode)$",
    )
)
_REFUSALS = (
    (
        re.compile(r"pg_hba\.conf"),
        "the server does not accept connections from the platform for this user and database",
    ),
    (
        re.compile(r"too many (?:clients|connections)|connection slots are reserved"),
        "the server has too many connections",
    ),
    (re.compile(r"authentication failed"), "the server did not accept the credentials"),
)
_FAILURES = (
    ("connection refused", "Connection refused"),
    ("timeout expired", "timed out"),
    ("timed out", "timed out"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "the network is unreachable"),
    ("connection reset", "the connection was reset"),
    ("no such file or directory", "no such socket"),
    ("fe_sendauth: no password supplied", "the server asks for a password and none was given"),
    ("server does not support ssl", "the server does not support SSL"),
    ("server closed the connection unexpectedly", "the server closed the connection"),
    ("expected authentication request", "what answers there is not a PostgreSQL server"),
    ("invalid response", "what answers there is not a PostgreSQL server"),
    ("ssl", "the SSL (TLS) handshake failed"),
)
"""libpq's failures (lower case) and the words shown for them; anything else is "the connection failed"."""

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
        """A libpq connection failure in words of our own: the server's refusals that only repeat
        what the tenant typed (`database "y" does not exist`) as they are, anything else as
        `could not connect to h:p (<what failed>)`. Never the raw answer of whatever listens there
        (a banner), nor an address the host name resolved to or the platform's own address."""
        unresolved = _UNRESOLVED.match(reason)
        if unresolved is not None:
            return f"could not connect to {unresolved['host']} (the host name does not resolve)"
        match = _CONNECTION_FAILED.match(reason)
        if match is None:
            return reason
        detail = match["reason"].strip()
        if detail.startswith("FATAL:"):
            return _server_refusal(detail.removeprefix("FATAL:").strip())
        where = match["socket"] or f"{match['host']}:{match['port']}"
        return f"could not connect to {where} ({_failure(detail)})"


def _server_refusal(message: str) -> str:
    """A PostgreSQL server's FATAL answer, kept when it only names what the tenant typed."""
    for pattern in _KEPT_REFUSALS:
        if pattern.match(message):
            return message
    for pattern, words in _REFUSALS:
        if pattern.search(message):
            return words
    return "the server refused the connection"


def _failure(detail: str) -> str:
    """What went wrong before any server answered as PostgreSQL, in a few fixed words."""
    lowered = detail.lower()
    for needle, words in _FAILURES:
        if needle in lowered:
            return words
    return "the connection failed"
