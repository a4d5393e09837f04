"""The embedded engine's writers (`dalgo.ingestion.writers`), driven as a sync drives them: the real
faker connector (and source-file for awkward text) read through PyAirbyte into a real Postgres
database and a real DuckDB file. They check what a sync must keep: the records of each stream,
the incremental state, primary-key merges, tables left as they were when a sync fails while a
stream is being read, and text exactly as the connector sent it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import psutil
import psycopg2
import pytest

from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.connectors.install import ensure_installed
from dalgo.flows.ingest import read_into_warehouse
from tests.connectors.https_files import serve_https
from tests.support.waiting import wait_until

SCHEMA = "raw"
WAIT_S = 300.0


@pytest.fixture(scope="module")
def connectors(shared_connectors_dir: Path) -> Path:
    """The run's connectors folder, with source-faker installed."""
    ensure_installed("source-faker", shared_connectors_dir)
    return shared_connectors_dir


@pytest.fixture()
def org_dir(tmp_path: Path) -> Path:
    """The test org's folder: the one folder of ours the connector's sandbox sees."""
    folder = tmp_path / "orgs" / "writer-test"
    folder.mkdir(parents=True)
    return folder


@dataclass
class Warehouse:
    """A warehouse of one test and a way to query it."""

    block: WarehouseBlock
    query: Callable[[str], list[tuple[Any, ...]]]


def _postgres(url: str) -> Warehouse:
    parts = urlsplit(url)
    block = WarehouseBlock(
        type="postgres",
        host=parts.hostname,
        port=parts.port or 5432,
        database=parts.path.lstrip("/"),
        user=parts.username,
    )

    def query(sql: str) -> list[tuple[Any, ...]]:
        connection = psycopg2.connect(url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()

    return Warehouse(block, query)


def _duckdb(path: Path) -> Warehouse:
    def query(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(path), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    return Warehouse(WarehouseBlock(type="duckdb", path=str(path)), query)


@pytest.fixture(params=["postgres", "duckdb"])
def warehouse(
    request: pytest.FixtureRequest, make_database: Callable[[str], str], org_dir: Path
) -> Warehouse:
    """A fresh Postgres database, or a DuckDB file in the org's folder."""
    if request.param == "postgres":
        return _postgres(make_database("writer"))
    return _duckdb(org_dir / "warehouse.duckdb")


def _sync(
    warehouse: Warehouse, connectors: Path, org_dir: Path, config: dict[str, Any], streams: list[str]
) -> dict[str, Any]:
    return read_into_warehouse("source-faker", config, streams, warehouse.block, SCHEMA, connectors, org_dir)


def _count(warehouse: Warehouse, table: str) -> tuple[int, int]:
    """The rows of a table and its distinct ids."""
    row = warehouse.query(f"SELECT count(*), count(DISTINCT id) FROM {SCHEMA}.{table}")[0]
    return int(row[0]), int(row[1])


def _state(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    return warehouse.query(
        f"SELECT stream_name, state_json FROM {SCHEMA}._airbyte_state ORDER BY stream_name"
    )


def _connector_reads() -> list[psutil.Process]:
    """This process's running faker `read` processes (the sandbox and the connector in it)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "source-faker" in cmdline and " read " in f" {cmdline} ":
            found.append(child)
    return found


def _users_batch_written() -> bool:
    """Whether this process has a batch file of users open with records in it."""
    for opened in psutil.Process().open_files():
        path = Path(opened.path)
        if path.name.startswith("users_") and path.suffix == ".jsonl" and path.stat().st_size > 0:
            return True
    return False


@pytest.fixture()
def background() -> Iterator[list[threading.Thread]]:
    """Threads a test starts, joined at its end."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=WAIT_S)


def _raw_ids(warehouse: Warehouse) -> set[str]:
    return {str(row[0]) for row in warehouse.query(f"SELECT _airbyte_raw_id FROM {SCHEMA}.users")}


def _tables(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    return warehouse.query(
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{SCHEMA}' ORDER BY 1"
    )


def test_counts_resumed_state_merges_and_a_failed_sync_that_changes_nothing(
    warehouse: Warehouse, connectors: Path, org_dir: Path, background: list[threading.Thread]
) -> None:
    """Four syncs of faker's users and products, one connection's life:

    1. every record is written, and the counts per stream say so;
    2. the next sync resumes from the state saved with the data and reads no user again;
    3. with `always_updated` every user is read again and merged by primary key: still 30 users,
       each row now this sync's;
    4. the connector dies after records of users reached the writer's batch file: the sync fails,
       and the tables, their rows and the saved state are those of sync 3.
    """
    config = {"count": 30, "seed": 11, "always_updated": False, "parallelism": 1}
    streams = ["users", "products"]
    first = _sync(warehouse, connectors, org_dir, config, streams)
    products = first["streams"]["products"]["records"]
    assert first["streams"]["users"]["records"] == 30 and products > 0
    assert first["records"] == 30 + products
    assert _count(warehouse, "users") == (30, 30)
    assert _count(warehouse, "products") == (products, products)
    state = _state(warehouse)
    assert [row[0] for row in state] == ["products", "users"] and "updated_at" in str(state[1][1])

    second = _sync(warehouse, connectors, org_dir, config, streams)
    assert second["streams"].get("users", {"records": 0})["records"] == 0
    assert _count(warehouse, "users") == (30, 30)

    before = _raw_ids(warehouse)
    third = _sync(warehouse, connectors, org_dir, {**config, "always_updated": True}, streams)
    assert third["streams"]["users"]["records"] == 30
    assert _count(warehouse, "users") == (30, 30)
    assert _count(warehouse, "products") == (products, products)
    after = _raw_ids(warehouse)
    assert len(after) == 30 and not before & after

    rows_before = warehouse.query(f"SELECT id, _airbyte_raw_id FROM {SCHEMA}.users ORDER BY id")
    state_before, tables_before = _state(warehouse), _tables(warehouse)
    failure: list[BaseException] = []

    from airbyte.exceptions import PyAirbyteError  # imported by the syncs above, environment set

    long_config = {**config, "count": 5_000_000, "always_updated": True}

    def long_sync() -> None:
        try:
            _sync(warehouse, connectors, org_dir, long_config, ["users"])
        except PyAirbyteError as exc:
            failure.append(exc)

    thread = threading.Thread(target=long_sync)
    background.append(thread)
    thread.start()

    def batch_written() -> bool:
        if _users_batch_written():
            return True
        assert thread.is_alive(), f"the sync ended before its records were written: {failure}"
        return False

    wait_until(batch_written, WAIT_S, "users written to a batch file", interval_s=0.1)
    for process in _connector_reads():
        with contextlib.suppress(psutil.NoSuchProcess):  # gone with its sandbox
            process.kill()
    thread.join(timeout=WAIT_S)
    assert not thread.is_alive()
    assert failure, "the sync did not fail with the connector's error although the connector was killed"
    assert warehouse.query(f"SELECT id, _airbyte_raw_id FROM {SCHEMA}.users ORDER BY id") == rows_before
    assert _state(warehouse) == state_before
    assert _tables(warehouse) == tables_before


AWKWARD_CSV = (
    "id,note,amount\n"
    '1,"back\\slash and ""quotes""",1.50\n'
    '2,"two\nlines, a comma",2\n'
    "3,tab\there and ünïcödé ✓,3.25\n"
    "4,,4\n"
)


@pytest.fixture(scope="module")
def file_connector(connectors: Path) -> Path:
    """source-file installed beside faker."""
    return ensure_installed("source-file", connectors)


def test_text_reaches_the_warehouse_as_the_connector_sent_it(
    warehouse: Warehouse, connectors: Path, file_connector: Path, org_dir: Path, tmp_path: Path
) -> None:
    """Backslashes, quotes, new lines, tabs, commas and non-ASCII text survive the writer's bulk
    load unchanged, and a missing value is NULL."""
    served_dir = tmp_path / "served"
    served_dir.mkdir()
    (served_dir / "notes.csv").write_text(AWKWARD_CSV, encoding="utf-8")
    with serve_https(served_dir, connectors) as served:
        config = {
            "dataset_name": "notes",
            "format": "csv",
            "url": served.url("notes.csv"),
            "provider": {"storage": "HTTPS"},
        }
        result = read_into_warehouse(
            "source-file", config, None, warehouse.block, SCHEMA, connectors, org_dir
        )
    assert result["streams"]["notes"]["records"] == 4
    rows = warehouse.query(f"SELECT id, note FROM {SCHEMA}.notes ORDER BY id")
    assert [(int(row[0]), row[1]) for row in rows] == [
        (1, 'back\\slash and "quotes"'),
        (2, "two\nlines, a comma"),
        (3, "tab\there and ünïcödé ✓"),
        (4, None),
    ]
