from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from dalgo.connectors.source import SourceError, check_source, discover_streams, get_source

pytestmark = pytest.mark.filterwarnings("ignore:The `field_name` argument:DeprecationWarning")


def file_config(path: Path) -> dict[str, Any]:
    return {"dataset_name": "people", "format": "csv", "url": str(path), "provider": {"storage": "local"}}


def test_importing_pyairbyte_leaves_the_root_logger_alone(
    installed: dict[str, Path], connectors_dir: Path
) -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    get_source("source-faker", {"count": 1}, None, connectors_dir)
    assert (list(root.handlers), root.level) == before


def test_check_faker(installed: dict[str, Path], connectors_dir: Path) -> None:
    ok, message = check_source("source-faker", {"count": 10}, connectors_dir)
    assert ok, message
    assert "succeeded" in message


def test_check_a_local_csv(installed: dict[str, Path], connectors_dir: Path, people_csv: Path) -> None:
    ok, message = check_source("source-file", file_config(people_csv), connectors_dir)
    assert ok, message


def test_check_a_missing_file(installed: dict[str, Path], connectors_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    ok, message = check_source("source-file", file_config(missing), connectors_dir)
    assert not ok
    assert str(missing) in message and "No such file or directory" in message


def test_check_an_invalid_config_names_the_field(installed: dict[str, Path], connectors_dir: Path) -> None:
    ok, message = check_source("source-faker", {"count": 0}, connectors_dir)
    assert not ok
    assert "count: 0 is less than the minimum of 1" in message


def test_discover_faker(installed: dict[str, Path], connectors_dir: Path) -> None:
    streams = {
        stream["name"]: stream for stream in discover_streams("source-faker", {"count": 10}, connectors_dir)
    }
    assert {"users", "products", "purchases"} <= set(streams)
    users = streams["users"]
    assert "email" in users["properties"]
    assert users["incremental"] and "incremental" in users["sync_modes"]
    assert users["cursor_field"] == ["updated_at"]
    assert users["primary_key"] == [["id"]]


def test_discover_a_local_csv(installed: dict[str, Path], connectors_dir: Path, people_csv: Path) -> None:
    (stream,) = discover_streams("source-file", file_config(people_csv), connectors_dir)
    assert stream["name"] == "people"
    assert stream["properties"] == ["id", "name", "age"]
    assert stream["sync_modes"] == ["full_refresh"] and not stream["incremental"]


def test_discover_with_an_invalid_config_raises(installed: dict[str, Path], connectors_dir: Path) -> None:
    with pytest.raises(SourceError, match="url: a value is required"):
        discover_streams(
            "source-file",
            {"dataset_name": "x", "format": "csv", "provider": {"storage": "local"}},
            connectors_dir,
        )


def test_read_faker_into_a_duckdb_cache(
    installed: dict[str, Path], connectors_dir: Path, tmp_path: Path
) -> None:
    source = get_source("source-faker", {"count": 25, "seed": 7}, ["users", "products"], connectors_dir)
    from airbyte.caches import DuckDBCache

    cache = DuckDBCache(db_path=tmp_path / "cache.duckdb", schema_name="raw")
    result = source.read(cache=cache)
    counts = {name: len(list(dataset)) for name, dataset in result.streams.items()}
    assert counts["users"] == 25
    assert counts["products"] > 0
