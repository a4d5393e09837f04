"""The cache a sync writes through, per warehouse type. BigQuery cannot be reached from this
machine, so its cache is tested for its configuration errors only: a key that is not a usable
service-account key is refused before any connection is tried, with a sentence saying why."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.flows.ingest import warehouse_cache


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"type": "authorized_user"}), 'its "type" is "authorized_user"'),
        (json.dumps({"type": "service_account", "project_id": "p"}), "has no"),
    ],
)
def test_a_bigquery_key_that_is_not_a_service_account_key_is_refused(
    tmp_path: Path, key: str, reason: str
) -> None:
    warehouse = WarehouseBlock(type="bigquery", project="dalgo-test", dataset="raw", credentials_json=key)
    with (
        pytest.raises(ValueError, match="The BigQuery warehouse cannot be synced into") as refused,
        warehouse_cache(warehouse, "raw", tmp_path),
    ):
        pass
    assert reason in str(refused.value)
    assert key not in str(refused.value)


def test_a_duckdb_cache_writes_into_the_warehouse_file_and_is_closed_after(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    warehouse = WarehouseBlock(type="duckdb", path=str(path))
    with warehouse_cache(warehouse, "landing", tmp_path / "state") as cache:
        cache.execute_sql("CREATE TABLE landing.t AS SELECT 1 AS x")
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("SELECT x FROM landing.t").fetchall() == [(1,)]


def test_a_duckdb_cache_evaluates_no_tenant_view_that_reads_files(tmp_path: Path) -> None:
    """A view a tenant's dbt run left in the file (here named like a table PyAirbyte reads) cannot
    read the worker's files while the sync's process has the file open."""
    secret = tmp_path / "worker-secret.txt"
    secret.write_text("the worker's own file")
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA landing")
        connection.execute(f"CREATE VIEW landing.leak AS SELECT content FROM read_text('{secret}')")
        assert connection.execute("SELECT content FROM landing.leak").fetchone() == ("the worker's own file",)
    warehouse = WarehouseBlock(type="duckdb", path=str(path))
    with warehouse_cache(warehouse, "landing", tmp_path / "state") as cache:
        with pytest.raises(Exception, match="disabled by config") as refused:
            cache.execute_sql("SELECT content FROM landing.leak")
        assert "the worker's own file" not in str(refused.value)
        with pytest.raises(Exception, match="lock"):
            cache.execute_sql("SET enable_external_access = true")


def test_a_duckdb_cache_refuses_a_linked_file(tmp_path: Path) -> None:
    """A warehouse file the tenant replaced with a link (to another org's file) is not opened."""
    other = tmp_path / "other-org.duckdb"
    duckdb.connect(str(other)).close()
    path = tmp_path / "warehouse.duckdb"
    path.symlink_to(other)
    warehouse = WarehouseBlock(type="duckdb", path=str(path))
    with (
        pytest.raises(ValueError, match="symbolic link"),
        warehouse_cache(warehouse, "landing", tmp_path / "state"),
    ):
        pass
