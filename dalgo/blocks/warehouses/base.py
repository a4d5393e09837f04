"""What every warehouse backend offers, and the parts they share.

A backend is a frozen dataclass whose fields carry the same names as the `WarehouseBlock` fields it
reads: a field without a default is required for that warehouse type. It builds the dbt target and a
SQLAlchemy engine; checking, listing tables and previewing rows are written once here, on top of the
engine and SQLAlchemy's inspector, with hooks for what differs per warehouse.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import SecretStr
from sqlalchemy import Connection, Engine, MetaData, Table, inspect, select, type_coerce
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import NullType

MASK = "********"
DBT_THREADS = 4
MAX_REASON_LENGTH = 300
_MAX_SAFE_INTEGER = 2**53
_SECRET_MIN_LENGTH = 4


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of a connection check: `message` is meant for a person and holds no secret."""

    ok: bool
    message: str


@dataclasses.dataclass(frozen=True, order=True)
class TableRef:
    """A table or view of the warehouse, by schema (a BigQuery dataset) and name."""

    schema: str
    table: str


@dataclasses.dataclass(frozen=True)
class Preview:
    """The first rows of a table: column names, and rows of JSON-serialisable values."""

    columns: list[str]
    rows: list[list[Any]]


class UnknownTableError(LookupError):
    """The warehouse's catalogue has no table of that schema and name."""

    def __init__(self, schema: str, table: str) -> None:
        self.schema = schema
        self.table = table
        super().__init__(f"The warehouse has no table {table!r} in schema {schema!r}.")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret (of a useful length) replaced by the mask."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _SECRET_MIN_LENGTH:
            text = text.replace(secret, MASK)
    return text


def error_reason(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The first human line of an error, without the given secrets.

    For a SQLAlchemy DBAPI error this is the driver's own message (not SQLAlchemy's wrapper with the
    statement); a PostgreSQL severity prefix such as `FATAL:` is dropped.
    """
    source: BaseException = exc
    if isinstance(exc, DBAPIError) and isinstance(exc.orig, BaseException):
        source = exc.orig
    lines = [line.strip() for line in str(source).splitlines() if line.strip()]
    reason = lines[0] if lines else type(source).__name__
    reason = re.sub(r"^(?:FATAL|ERROR|PANIC):\s+", "", reason)
    reason = scrub(reason, secrets)
    if len(reason) > MAX_REASON_LENGTH:
        reason = reason[: MAX_REASON_LENGTH - 1].rstrip() + "…"
    return reason


def json_value(value: Any) -> Any:
    """A value read from a warehouse as something `json.dumps` accepts (without NaN or Infinity).

    Timestamps become ISO 8601 text, decimals numbers when no digit is lost (text otherwise), UUIDs
    text, bytes `\\x`-prefixed hex (as psql shows them), containers are converted item by item, and
    anything else unknown becomes its text.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return _decimal_value(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    return str(value)


def _decimal_value(value: Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value() and abs(value) < _MAX_SAFE_INTEGER:
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


@dataclasses.dataclass(frozen=True)
class WarehouseBackend(ABC):
    """One kind of warehouse. Subclasses are frozen dataclasses named in `dalgo.blocks.warehouses`."""

    label: ClassVar[str]
    """The warehouse's name for people, e.g. "PostgreSQL"."""

    system_schemas: ClassVar[frozenset[str]] = frozenset({"information_schema"})
    """Schemas that belong to the database system and are never listed."""

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The block fields this backend reads, in the order they are shown."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def required_field_names(cls) -> tuple[str, ...]:
        """The block fields that must be set for this warehouse type."""
        return tuple(
            field.name
            for field in dataclasses.fields(cls)
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[str]:
        """What is wrong with these block values for this backend (empty when they are usable)."""
        missing = [name for name in cls.required_field_names() if values.get(name) in (None, "")]
        if missing:
            return [f"a {cls.label} warehouse needs {', '.join(missing)}"]
        return []

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> WarehouseBackend:
        """The backend for these block values; raises ValueError naming what is missing or wrong."""
        problems = cls.problems(values)
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**{name: values[name] for name in cls.field_names() if values.get(name) is not None})

    @abstractmethod
    def dbt_target(self, schema: str | None = None, threads: int = DBT_THREADS) -> dict[str, Any]:
        """The dbt `profiles.yml` output for this warehouse (secrets in plain text); `schema` overrides
        the target schema."""

    @abstractmethod
    def engine(self) -> Engine:
        """A new SQLAlchemy engine for the platform's own queries; the caller disposes of it."""

    def secret_values(self) -> list[str]:
        """Every secret of this backend as text, to keep out of messages."""
        return [
            value.get_secret_value()
            for value in (getattr(self, name) for name in self.field_names())
            if isinstance(value, SecretStr)
        ]

    def humanize(self, reason: str) -> str:
        """A driver's first error line rewritten for people; backends override it."""
        return reason

    def error_reason(self, exc: BaseException) -> str:
        """The first human line of an error raised by this warehouse, without its secrets."""
        return scrub(self.humanize(error_reason(exc, self.secret_values())), self.secret_values())

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection on a new engine, closed and disposed of afterwards."""
        engine = self.engine()
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    def check(self) -> CheckResult:
        """Connect and run a trivial query; on failure, why, in the driver's words."""
        try:
            with self.connect() as connection:
                connection.execute(select(1)).scalar_one()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, not raised
            return CheckResult(ok=False, message=self.error_reason(exc))
        return CheckResult(ok=True, message=f"Connected to the {self.label} warehouse.")

    def is_system_schema(self, schema: str) -> bool:
        """Whether a schema belongs to the database system rather than to the org's data."""
        return schema.lower() in self.system_schemas

    def schema_names(self, connection: Connection, inspector: Inspector) -> list[str]:
        """The org's schemas: every schema the inspector lists, less the system's."""
        return [name for name in inspector.get_schema_names() if not self.is_system_schema(name)]

    def table_names(self, inspector: Inspector, schema: str) -> set[str]:
        """The tables, views and materialized views of one schema."""
        names = set(inspector.get_table_names(schema=schema))
        names.update(inspector.get_view_names(schema=schema))
        with suppress(NotImplementedError):
            names.update(inspector.get_materialized_view_names(schema=schema))
        return names

    def tables(self, connection: Connection) -> list[TableRef]:
        """Every table and view outside the system schemas, sorted by schema and name."""
        inspector = inspect(connection)
        found = {
            TableRef(schema, table)
            for schema in self.schema_names(connection, inspector)
            for table in self.table_names(inspector, schema)
        }
        return sorted(found)

    def list_tables(self) -> list[TableRef]:
        """Every table and view of the warehouse outside the system schemas, sorted."""
        with self.connect() as connection:
            return self.tables(connection)

    def preview(self, schema: str, table: str, limit: int = 100) -> Preview:
        """The first `limit` rows of a table listed in the warehouse's own catalogue.

        Raises UnknownTableError, before any query names it, when the catalogue has no such table.
        """
        if limit < 0:
            raise ValueError("the preview limit cannot be negative")
        with self.connect() as connection:
            if TableRef(schema, table) not in set(self.tables(connection)):
                raise UnknownTableError(schema, table)
            columns, rows = self.fetch_rows(connection, TableRef(schema, table), limit)
        return Preview(columns=columns, rows=[[json_value(value) for value in row] for row in rows])

    def fetch_rows(
        self, connection: Connection, ref: TableRef, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and the first rows of a catalogued table, through a reflected `Table`, so
        every name is quoted by the dialect.

        Each column is read untyped: the driver's own values come back, without SQLAlchemy's result
        processing (which reads some dialects' decimals through a float and loses digits).
        """
        reflected = Table(
            ref.table, MetaData(), schema=ref.schema, autoload_with=connection, resolve_fks=False
        )
        columns = list(reflected.columns)
        query = select(*(type_coerce(column, NullType()).label(column.name) for column in columns))
        result = connection.execute(query.select_from(reflected).limit(limit))
        return [column.name for column in columns], [tuple(row) for row in result]
