"""The warehouse block against real warehouses: the PostgreSQL server at 127.0.0.1:5432 (a fresh
database per test) and DuckDB files under tmp_path.

BigQuery cannot be reached from here (no network but package registries): its tests cover what does
not need Google's servers (the dbt target, the masked view, every way a key can be unusable, and
that checking a well-formed but fake key ends within a bounded time with a clear message). Listing
and previewing BigQuery tables are not exercised.

No Prefect server is needed: the block is only built, never saved.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.blocks.warehouses import bigquery
from dalgo.blocks.warehouses.base import (
    MASK,
    CheckResult,
    Preview,
    TableRef,
    UnknownTableError,
    error_reason,
    json_value,
)
from dalgo.blocks.warehouses.duckdb import DuckDBBackend, UnsafeDuckDBPathError, place_in_folder
from tests.secrets_registry import new_secret, register_private_key

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CRAFTED = 'x"; DROP TABLE t; --'
ODD_NAME = 'odd "name"; --'
BIG_AMOUNT = "12345678901234567890.12"
PASSWORD = new_secret("pg-secret")


def _admin(sql: str) -> None:
    connection = psycopg2.connect(ADMIN_URL)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


PG_SETUP = f"""
CREATE SCHEMA raw;
CREATE TABLE raw.people (
    id integer PRIMARY KEY, name text, amount numeric(30, 2), seen_at timestamptz, uid uuid,
    attrs jsonb, photo bytea
);
INSERT INTO raw.people VALUES
    (1, 'Asha', 1.50, '2024-03-01 10:00:00+05:30', 'a8098c1a-f86e-11da-bd1a-00112444be1e',
     '{{"district": "Pune", "tags": [1, 2]}}', '\\xdeadbeef'),
    (2, 'Ben', {BIG_AMOUNT}, '2024-03-02 00:00:00+00', NULL, '{{}}', NULL),
    (3, 'Chen', 0, NULL, NULL, NULL, NULL),
    (4, 'Dina', -7.25, NULL, NULL, '[1, "two"]', NULL),
    (5, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE VIEW raw.people_named AS SELECT id, name FROM raw.people WHERE name IS NOT NULL;
CREATE TABLE public.t (x integer);
INSERT INTO public.t VALUES (1), (2);
CREATE TABLE raw."odd ""name""; --" (x integer);
INSERT INTO raw."odd ""name""; --" VALUES (42);
"""


@pytest.fixture()
def pg_database() -> Iterator[str]:
    """A fresh database with the PG_SETUP tables; its name."""
    name = f"dalgo_test_wh_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        connection = psycopg2.connect(ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(PG_SETUP)
        connection.close()
        yield name
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres(database: str, **overrides: Any) -> WarehouseBlock:
    fields: dict[str, Any] = {
        "type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "database": database,
        "user": "postgres",
        "schema_name": "raw",
    }
    return WarehouseBlock(**(fields | overrides))


@pytest.fixture()
def statements() -> Iterator[list[str]]:
    """Every statement (with its parameters) any SQLAlchemy engine runs during the test."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append(f"{statement} {parameters!r}")

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


# --- PostgreSQL ---------------------------------------------------------------------------------


def test_postgres_check_succeeds(pg_database: str) -> None:
    result = postgres(pg_database).check()
    assert result == CheckResult(ok=True, message="Connected to the PostgreSQL warehouse.")


def test_postgres_check_names_a_missing_database() -> None:
    result = postgres("no_such_db_here", password=PASSWORD).check()
    assert result == CheckResult(ok=False, message='database "no_such_db_here" does not exist')


def test_postgres_check_names_a_refused_connection() -> None:
    result = postgres("postgres", port=1, password=PASSWORD).check()
    assert result == CheckResult(ok=False, message="could not connect to 127.0.0.1:1 (Connection refused)")


def test_postgres_check_names_a_missing_role() -> None:
    result = postgres("postgres", user="nobody_here", password=PASSWORD).check()
    assert result == CheckResult(ok=False, message='role "nobody_here" does not exist')
    assert PASSWORD not in result.message


def test_postgres_check_names_an_unknown_host() -> None:
    result = postgres("postgres", host="warehouse.invalid").check()
    assert not result.ok
    assert result.message == "could not connect to warehouse.invalid (the host name does not resolve)"


def test_postgres_lists_tables_and_views_outside_system_schemas(pg_database: str) -> None:
    assert postgres(pg_database).list_tables() == [
        TableRef("public", "t"),
        TableRef("raw", ODD_NAME),
        TableRef("raw", "people"),
        TableRef("raw", "people_named"),
    ]


def test_postgres_preview_respects_the_limit_and_gives_json_values(pg_database: str) -> None:
    warehouse = postgres(pg_database)
    preview = warehouse.preview("raw", "people", 3)
    assert preview.columns == ["id", "name", "amount", "seen_at", "uid", "attrs", "photo"]
    assert len(preview.rows) == 3
    json.dumps(preview.rows, allow_nan=False)
    by_id = {row[0]: row for row in warehouse.preview("raw", "people", 100).rows}
    assert len(by_id) == 5
    assert by_id[1] == [
        1,
        "Asha",
        1.5,
        "2024-03-01T04:30:00+00:00",
        "a8098c1a-f86e-11da-bd1a-00112444be1e",
        {"district": "Pune", "tags": [1, 2]},
        "\\xdeadbeef",
    ]
    assert by_id[2][2] == BIG_AMOUNT
    assert by_id[3][2] == 0
    assert by_id[4][2] == -7.25
    assert by_id[4][5] == [1, "two"]
    assert by_id[5][1:] == [None] * 6
    assert warehouse.preview("raw", "people", 0) == Preview(columns=preview.columns, rows=[])


def test_postgres_preview_reads_views_and_quotes_odd_names(pg_database: str) -> None:
    warehouse = postgres(pg_database)
    assert warehouse.preview("raw", ODD_NAME, 10) == Preview(columns=["x"], rows=[[42]])
    named = warehouse.preview("raw", "people_named", 10)
    assert named.columns == ["id", "name"]
    assert sorted(row[1] for row in named.rows) == ["Asha", "Ben", "Chen", "Dina"]


@pytest.mark.parametrize(
    ("schema", "table"),
    [
        ("public", CRAFTED),
        (CRAFTED, "t"),
        ("raw", "t"),
        ("pg_catalog", "pg_class"),
        ("information_schema", "tables"),
    ],
)
def test_postgres_preview_refuses_tables_outside_the_catalogue(
    pg_database: str, statements: list[str], schema: str, table: str
) -> None:
    warehouse = postgres(pg_database)
    with pytest.raises(UnknownTableError) as raised:
        warehouse.preview(schema, table, 10)
    assert repr(table) in str(raised.value) and repr(schema) in str(raised.value)
    assert statements, "the catalogue was read"
    assert not any(CRAFTED in statement for statement in statements)
    assert warehouse.preview("public", "t", 10).rows == [[1], [2]]


def test_postgres_preview_refuses_a_negative_limit(pg_database: str) -> None:
    with pytest.raises(ValueError, match="negative"):
        postgres(pg_database).preview("raw", "people", -1)


def test_postgres_engine_and_dbt_target(pg_database: str) -> None:
    warehouse = postgres(pg_database, password=PASSWORD)
    engine = postgres(pg_database).engine()
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM raw.people")).scalar_one() == 5
    finally:
        engine.dispose()
    assert warehouse.dbt_target() == {
        "type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "user": "postgres",
        "password": PASSWORD,
        "dbname": pg_database,
        "schema": "raw",
        "threads": 4,
        "connect_timeout": 10,
    }
    assert warehouse.dbt_target(schema="analytics")["schema"] == "analytics"
    assert postgres(pg_database).dbt_target()["password"] == ""


def test_postgres_errors_from_queries_read_as_the_server_says(pg_database: str) -> None:
    warehouse = postgres(pg_database, password=PASSWORD)
    engine = warehouse.engine()
    try:
        with pytest.raises(DBAPIError) as raised, engine.connect() as connection:
            connection.execute(text("SELECT 1/0"))
    finally:
        engine.dispose()
    assert warehouse.backend().error_reason(raised.value) == "division by zero"


# --- DuckDB ----------------------------------------------------------------------------------------


def make_duckdb(path: Path) -> None:
    """A DuckDB file with a table of varied types, a view, and tables with awkward names."""
    connection = duckdb.connect(str(path))
    connection.execute(
        f"""
        CREATE SCHEMA raw;
        CREATE TABLE raw.people (
            id INTEGER, name VARCHAR, amount DECIMAL(30, 2), seen_at TIMESTAMPTZ, uid UUID,
            tags INTEGER[], extra STRUCT(a INTEGER), photo BLOB, score DOUBLE
        );
        INSERT INTO raw.people VALUES
            (1, 'Asha', 1.50, TIMESTAMPTZ '2024-03-01 04:30:00+00', 'a8098c1a-f86e-11da-bd1a-00112444be1e',
             [1, 2], {{'a': 1}}, '\\xDE\\xAD'::BLOB, 'NaN'::DOUBLE),
            (2, 'Ben', {BIG_AMOUNT}, NULL, NULL, [], NULL, NULL, 2.5),
            (3, 'Chen', 0, NULL, NULL, NULL, NULL, NULL, 'inf'::DOUBLE);
        CREATE VIEW raw.people_named AS SELECT id, name FROM raw.people;
        CREATE TABLE main.t (x INTEGER);
        INSERT INTO main.t VALUES (1), (2);
        CREATE TABLE raw."odd ""name""; --" (x INTEGER);
        INSERT INTO raw."odd ""name""; --" VALUES (42);
        """
    )
    connection.close()


def duckdb_block(path: Path) -> WarehouseBlock:
    return WarehouseBlock(type="duckdb", path=str(path))


def test_duckdb_check_makes_the_folder_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "orgs" / "acme" / "warehouse.duckdb"
    result = duckdb_block(path).check()
    assert result == CheckResult(ok=True, message="Connected to the DuckDB warehouse.")
    assert path.is_file()
    assert duckdb_block(path).list_tables() == []


def test_duckdb_check_reports_an_unusable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    not_a_folder = duckdb_block(blocker / "warehouse.duckdb").check()
    assert not_a_folder == CheckResult(
        ok=False, message=f"cannot create the folder {blocker}: a file has that name"
    )
    not_duckdb = tmp_path / "garbage.duckdb"
    not_duckdb.write_text("hello")
    garbage = duckdb_block(not_duckdb).check()
    assert not garbage.ok
    assert garbage.message == f'The file "{not_duckdb}" exists, but it is not a valid DuckDB database file!'
    assert duckdb_block(tmp_path).check() == CheckResult(
        ok=False, message=f"{tmp_path} is a folder, not a DuckDB file"
    )


def test_duckdb_check_names_a_file_another_process_holds(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = duckdb_block(path).check()
    finally:
        holder.communicate("", timeout=30)
    assert result == CheckResult(
        ok=False,
        message=f"the DuckDB file {path} is in use by another process (process {holder.pid}): "
        "only one process at a time can open it for writing",
    )
    assert duckdb_block(path).check().ok


@pytest.mark.filterwarnings("ignore:Did not recognize type:sqlalchemy.exc.SAWarning")
@pytest.mark.filterwarnings("ignore:duckdb-engine doesn't yet support reflection on indices")
def test_duckdb_lists_and_previews(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    make_duckdb(path)
    warehouse = duckdb_block(path)
    assert warehouse.list_tables() == [
        TableRef("main", "t"),
        TableRef("raw", ODD_NAME),
        TableRef("raw", "people"),
        TableRef("raw", "people_named"),
    ]
    preview = warehouse.preview("raw", "people", 2)
    assert preview.columns == ["id", "name", "amount", "seen_at", "uid", "tags", "extra", "photo", "score"]
    assert len(preview.rows) == 2
    json.dumps(warehouse.preview("raw", "people", 10).rows, allow_nan=False)
    rows = {row[0]: row for row in warehouse.preview("raw", "people", 10).rows}
    assert rows[1] == [
        1,
        "Asha",
        1.5,
        "2024-03-01T04:30:00+00:00",
        "a8098c1a-f86e-11da-bd1a-00112444be1e",
        [1, 2],
        {"a": 1},
        "\\xdead",
        "nan",
    ]
    assert rows[2][2] == BIG_AMOUNT and rows[2][5] == [] and rows[2][8] == 2.5
    assert rows[3][8] == "inf"
    assert warehouse.preview("raw", ODD_NAME, 5) == Preview(columns=["x"], rows=[[42]])
    assert warehouse.preview("raw", "people_named", 1).columns == ["id", "name"]


@pytest.mark.filterwarnings("ignore:duckdb-engine doesn't yet support reflection on indices")
def test_duckdb_preview_refuses_a_crafted_name(tmp_path: Path, statements: list[str]) -> None:
    path = tmp_path / "warehouse.duckdb"
    make_duckdb(path)
    warehouse = duckdb_block(path)
    for schema, table in [("main", CRAFTED), (CRAFTED, "t"), ("information_schema", "tables")]:
        with pytest.raises(UnknownTableError):
            warehouse.preview(schema, table, 5)
    assert not any(CRAFTED in statement for statement in statements)
    assert warehouse.preview("main", "t", 5).rows == [[1], [2]]


@pytest.mark.filterwarnings("ignore:duckdb-engine doesn't yet support reflection on indices")
def test_duckdb_connections_are_read_only_without_external_access(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    secret = tmp_path / "secret.txt"
    secret.write_text("platform secret")
    with duckdb.connect(str(path)) as connection:
        connection.execute(f"CREATE VIEW main.leak AS SELECT * FROM read_text('{secret}')")
    warehouse = duckdb_block(path)
    backend = warehouse.backend()
    with pytest.raises(DBAPIError) as raised:
        warehouse.preview("main", "leak", 5)
    assert backend.error_reason(raised.value) == (
        "this table reads files, extensions or other databases outside the warehouse, "
        "which the platform does not allow"
    )
    with backend.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('enable_external_access', 'lock_configuration', 'access_mode')"
            )
        ).all()
        settings: dict[str, str] = {name: value for name, value in rows}
        assert settings == {
            "enable_external_access": "false",
            "lock_configuration": "true",
            "access_mode": "read_only",
        }
    for statement in (
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        "INSTALL httpfs",
        "CREATE TABLE main.x (y INTEGER)",
    ):
        with pytest.raises(DBAPIError), backend.connect() as connection:
            connection.execute(text(statement))
    assert not (tmp_path / "other.duckdb").exists()


def test_duckdb_never_follows_a_symbolic_link(tmp_path: Path) -> None:
    other = tmp_path / "other" / "warehouse.duckdb"
    other.parent.mkdir()
    make_duckdb(other)
    before = other.read_bytes()
    own = tmp_path / "own"
    own.mkdir()

    linked_file = own / "warehouse.duckdb"
    linked_file.symlink_to(other)
    refused = duckdb_block(linked_file).check()
    assert not refused.ok and "is a symbolic link" in refused.message
    with pytest.raises(UnsafeDuckDBPathError, match="symbolic link"):
        duckdb_block(linked_file).list_tables()
    with pytest.raises(UnsafeDuckDBPathError, match="symbolic link"):
        duckdb_block(linked_file).preview("main", "t", 5)

    linked_folder = tmp_path / "linked"
    linked_folder.symlink_to(other.parent)
    through = duckdb_block(linked_folder / "warehouse.duckdb")
    assert "goes through a symbolic link" in through.check().message
    with pytest.raises(UnsafeDuckDBPathError, match="goes through a symbolic link"):
        through.list_tables()

    dangling = own / "new.duckdb"
    dangling.symlink_to(tmp_path / "other" / "made-through-a-link.duckdb")
    assert "is a symbolic link" in duckdb_block(dangling).check().message
    assert not (tmp_path / "other" / "made-through-a-link.duckdb").exists()

    wal_owner = own / "wal.duckdb"
    make_duckdb(wal_owner)
    Path(f"{wal_owner}.wal").symlink_to(tmp_path / "other" / "warehouse.duckdb.wal")
    assert "wal.duckdb.wal is a symbolic link" in duckdb_block(wal_owner).check().message

    unnormal = duckdb_block(Path(f"{own}/../other/warehouse.duckdb"))
    assert "not a plain absolute path" in unnormal.check().message
    assert other.read_bytes() == before


def test_duckdb_refuses_a_file_swapped_while_it_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "warehouse.duckdb"
    make_duckdb(path)
    swapped = tmp_path / "swapped.duckdb"
    make_duckdb(swapped)
    opened = DuckDBBackend.engine

    def swap_then_open(self: DuckDBBackend) -> Engine:
        swapped.replace(path)  # between the check and the open, another file takes the name
        return opened(self)

    monkeypatch.setattr(DuckDBBackend, "engine", swap_then_open)
    with pytest.raises(UnsafeDuckDBPathError, match="was replaced while it was being opened"):
        duckdb_block(path).list_tables()


def test_duckdb_check_creates_the_file_without_opening_it_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "fresh.duckdb"
    backend = duckdb_block(path).backend()
    assert backend.check().ok
    assert path.is_file() and not path.is_symlink()
    with pytest.raises(FileExistsError):
        backend.create_file()  # type: ignore[attr-defined]
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE main.t AS SELECT 1 AS x")
    assert duckdb_block(path).list_tables() == [TableRef("main", "t")]
    with pytest.raises(UnsafeDuckDBPathError, match="does not exist yet"):
        duckdb_block(tmp_path / "missing.duckdb").list_tables()


def test_duckdb_place_in_the_orgs_folder(tmp_path: Path) -> None:
    folder = tmp_path / "orgs" / "acme"
    folder.mkdir(parents=True)
    assert place_in_folder(folder, "warehouse.duckdb") == folder.resolve() / "warehouse.duckdb"
    for name in ("dbt/repo/w.duckdb", "../w.duckdb", "./w.duckdb", "/w.duckdb", ".w.duckdb", "w.txt", ".."):
        with pytest.raises(UnsafeDuckDBPathError, match="file name inside the organization's own folder"):
            place_in_folder(folder, name)
    (folder / "linked.duckdb").symlink_to(tmp_path / "elsewhere.duckdb")
    with pytest.raises(UnsafeDuckDBPathError, match="symbolic link"):
        place_in_folder(folder, "linked.duckdb")
    (folder / "dir.duckdb").mkdir()
    with pytest.raises(UnsafeDuckDBPathError, match="not a regular file"):
        place_in_folder(folder, "dir.duckdb")
    linked_org = tmp_path / "orgs" / "linked"
    linked_org.symlink_to(folder)
    with pytest.raises(UnsafeDuckDBPathError, match="folder is a symbolic link"):
        place_in_folder(linked_org, "warehouse.duckdb")


def test_duckdb_dbt_target_and_masked(tmp_path: Path) -> None:
    warehouse = WarehouseBlock(type="duckdb", path=str(tmp_path / "w.duckdb"), schema_name="staging")
    assert warehouse.dbt_target() == {
        "type": "duckdb",
        "path": str(tmp_path / "w.duckdb"),
        "schema": "staging",
        "threads": 4,
    }
    assert warehouse.dbt_target("analytics")["schema"] == "analytics"
    assert warehouse.masked() == {"type": "duckdb", "path": str(tmp_path / "w.duckdb"), "schema": "staging"}
    assert duckdb_block(tmp_path / "w.duckdb").masked()["schema"] == "main"


# --- BigQuery (offline) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return register_private_key(pem)


def service_account_key(private_key: str, **overrides: Any) -> dict[str, Any]:
    key: dict[str, Any] = {
        "type": "service_account",
        "project_id": "ngo-data",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_key,
        "client_email": "dalgo@ngo-data.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return key | overrides


def bigquery_block(credentials: str) -> WarehouseBlock:
    return WarehouseBlock(
        type="bigquery", project="ngo-data", dataset="raw", location="EU", credentials_json=credentials
    )


def assert_no_key_in(message: str, private_key: str) -> None:
    assert "PRIVATE KEY" not in message
    for line in private_key.splitlines():
        assert line not in message


def test_bigquery_dbt_target_and_masked(private_key_pem: str) -> None:
    key = service_account_key(private_key_pem)
    warehouse = bigquery_block(json.dumps(key))
    assert warehouse.dbt_target() == {
        "type": "bigquery",
        "method": "service-account-json",
        "project": "ngo-data",
        "dataset": "raw",
        "location": "EU",
        "threads": 4,
        "keyfile_json": key,
    }
    assert warehouse.dbt_target(schema="analytics")["dataset"] == "analytics"
    masked = warehouse.masked()
    assert masked == {
        "type": "bigquery",
        "project": "ngo-data",
        "dataset": "raw",
        "location": "EU",
        "credentials_json": MASK,
    }
    assert_no_key_in(json.dumps(masked), private_key_pem)


def test_bigquery_needs_a_key() -> None:
    with pytest.raises(ValidationError, match="a BigQuery warehouse needs credentials_json"):
        WarehouseBlock(type="bigquery", project="ngo-data", dataset="raw")


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ("not json {", "the BigQuery credentials are not JSON: give the whole service-account key file"),
        (
            json.dumps({"type": "authorized_user", "client_id": "x", "refresh_token": "y"}),
            'the BigQuery credentials are not a service-account key (its "type" is "authorized_user", '
            'not "service_account")',
        ),
        (
            json.dumps(["service_account"]),
            'the BigQuery credentials are not a service-account key (a JSON object with "type": '
            '"service_account")',
        ),
    ],
)
def test_bigquery_check_refuses_what_is_not_a_service_account_key(credentials: str, message: str) -> None:
    assert bigquery_block(credentials).check() == CheckResult(ok=False, message=message)


def test_bigquery_check_refuses_an_incomplete_or_foreign_key(private_key_pem: str) -> None:
    incomplete = service_account_key(private_key_pem)
    del incomplete["client_email"]
    assert bigquery_block(json.dumps(incomplete)).check() == CheckResult(
        ok=False, message="the service-account key has no client_email"
    )
    foreign = service_account_key(private_key_pem, token_uri="http://169.254.169.254/token")
    result = bigquery_block(json.dumps(foreign)).check()
    assert not result.ok and "token_uri is not a Google address" in result.message


def test_bigquery_check_refuses_a_key_that_is_not_pem(private_key_pem: str) -> None:
    broken = private_key_pem.replace("\n", "", 3)[:200] + "\n-----END PRIVATE KEY-----\n"
    result = bigquery_block(json.dumps(service_account_key(broken))).check()
    assert result == CheckResult(
        ok=False, message="the service-account key's private_key is not a valid PEM private key"
    )
    assert_no_key_in(result.message, broken)


def test_bigquery_check_of_a_fake_key_ends_in_bounded_time(private_key_pem: str) -> None:
    warehouse = bigquery_block(json.dumps(service_account_key(private_key_pem)))
    started = time.monotonic()
    result = warehouse.check()
    assert time.monotonic() - started < bigquery.CHECK_TIMEOUT_S + 5
    assert not result.ok
    assert result.message.startswith(
        "could not reach Google's token service at oauth2.googleapis.com to sign in with the key: "
    ) or result.message.startswith("Google refused the service-account key")
    assert_no_key_in(result.message, private_key_pem)


def test_google_auth_requests_time_out_at_the_deadline() -> None:
    """A server that accepts the connection and never answers: the token request gives up."""
    from google.auth.exceptions import TransportError

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        request = bigquery.bounded_request(time.monotonic() + 1.5)
        started = time.monotonic()
        with pytest.raises(TransportError):
            request(f"http://127.0.0.1:{port}/token", method="POST", body=b"x")
        assert 1.0 < time.monotonic() - started < 5
        with pytest.raises(TransportError, match="no answer within"):
            bigquery.bounded_request(time.monotonic() - 1)("http://127.0.0.1:1/")


def test_run_by_gives_up_on_work_that_hangs() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="no answer within"):
        bigquery.run_by(time.monotonic() + 0.5, release.wait)
    assert time.monotonic() - started < 2
    release.set()
    assert bigquery.run_by(time.monotonic() + 5, lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        bigquery.run_by(time.monotonic() + 5, lambda: 1 // 0)


# --- the block ---------------------------------------------------------------------------------


def test_masked_shows_only_the_fields_of_its_type() -> None:
    warehouse = WarehouseBlock(
        type="postgres",
        host="db.example.org",
        database="ngo",
        user="dalgo",
        password=PASSWORD,
        project="stray",
        path="/stray.duckdb",
    )
    masked = warehouse.masked()
    assert masked == {
        "type": "postgres",
        "host": "db.example.org",
        "port": 5432,
        "database": "ngo",
        "user": "dalgo",
        "password": MASK,
        "schema": "public",
    }
    assert PASSWORD not in json.dumps(masked)
    assert PASSWORD not in repr(warehouse) and PASSWORD not in str(warehouse)
    no_password = WarehouseBlock(type="postgres", host="h", database="d", user="u").masked()
    assert no_password["password"] is None


def test_a_block_missing_what_its_type_needs_is_refused() -> None:
    with pytest.raises(ValidationError, match="a PostgreSQL warehouse needs database, user"):
        WarehouseBlock(type="postgres", host="h")
    with pytest.raises(ValidationError, match="a DuckDB warehouse needs path"):
        WarehouseBlock(type="duckdb")
    with pytest.raises(ValidationError, match="must be absolute"):
        WarehouseBlock(type="duckdb", path="warehouse.duckdb")
    with pytest.raises(ValidationError):
        WarehouseBlock(type="snowflake", path="/w.duckdb")


def test_the_block_type_is_named_for_prefect() -> None:
    assert WarehouseBlock.get_block_type_name() == "Dalgo Warehouse"
    assert WarehouseBlock.get_block_type_slug() == "dalgo-warehouse"
    assert WarehouseBlock.get_description()


def test_importing_the_block_leaves_google_libraries_unloaded() -> None:
    """(The `google.cloud` namespace itself is made at start-up by an installed .pth file.)"""
    code = (
        "import sys, dalgo.blocks.warehouse; "
        "heavy = [m for m in sys.modules if m.startswith(('google.cloud.', 'google.oauth2', "
        "'google.auth', 'google.api_core', 'sqlalchemy_bigquery'))]; print(heavy)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"


# --- shared helpers ----------------------------------------------------------------------------


def test_error_reason_keeps_the_first_line_without_secrets() -> None:
    error = RuntimeError(f"FATAL:  could not log in with {PASSWORD}\nDETAIL: more\n")
    assert error_reason(error, [PASSWORD]) == f"could not log in with {MASK}"
    assert error_reason(RuntimeError("")) == "RuntimeError"
    assert len(error_reason(RuntimeError("x" * 1000))) == 300


def test_json_value_converts_what_json_cannot_hold() -> None:
    assert json_value(Decimal("2.50")) == 2.5
    assert json_value(Decimal("10")) == 10
    assert json_value(Decimal("0.1")) == 0.1
    assert json_value(Decimal("1.000000000000000000001")) == "1.000000000000000000001"
    assert json_value(Decimal("NaN")) == "NaN"
    assert json_value(float("-inf")) == "-inf"
    assert json_value(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert json_value(memoryview(b"\x00\xff")) == "\\x00ff"
    assert json_value({1: (Decimal("1.5"), {"a"})}) == {"1": [1.5, ["a"]]}
    assert json_value(Path("/x")) == "/x"
