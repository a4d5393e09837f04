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
