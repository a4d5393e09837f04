from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from dalgo.connectors.source import SourceError, check_source, discover_streams, get_source
from tests.connectors.https_files import HttpsFiles

pytestmark = pytest.mark.filterwarnings("ignore:The `field_name` argument:DeprecationWarning")


def file_config(url: str) -> dict[str, Any]:
    return {"dataset_name": "people", "format": "csv", "url": url, "provider": {"storage": "HTTPS"}}


def test_importing_pyairbyte_leaves_the_root_logger_alone(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path
) -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    get_source("source-faker", {"count": 1}, None, connectors_dir, org_dir)
    assert (list(root.handlers), root.level) == before


def test_check_faker(installed: dict[str, Path], connectors_dir: Path, org_dir: Path) -> None:
    ok, message = check_source("source-faker", {"count": 10}, connectors_dir, org_dir)
    assert ok, message
    assert "succeeded" in message


def test_check_a_csv_over_https(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path, people_csv: str
) -> None:
    ok, message = check_source("source-file", file_config(people_csv), connectors_dir, org_dir)
    assert ok, message


def test_check_a_missing_file(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path, https_files: HttpsFiles
) -> None:
    missing = https_files.url("missing.csv")
    ok, message = check_source("source-file", file_config(missing), connectors_dir, org_dir)
    assert not ok
    assert "404" in message, message


def test_check_a_local_file_is_refused_before_any_connector_runs(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path
) -> None:
    config = {**file_config("/etc/passwd"), "provider": {"storage": "local"}}
    ok, message = check_source("source-file", config, connectors_dir, org_dir)
    assert not ok
    assert "local files cannot be read" in message
    with pytest.raises(SourceError, match="local files cannot be read"):
        get_source("source-file", config, None, connectors_dir, org_dir)


def test_check_an_invalid_config_names_the_field(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path
) -> None:
    ok, message = check_source("source-faker", {"count": 0}, connectors_dir, org_dir)
    assert not ok
    assert "count: 0 is less than the minimum of 1" in message


def test_discover_faker(installed: dict[str, Path], connectors_dir: Path, org_dir: Path) -> None:
    found = discover_streams("source-faker", {"count": 10}, connectors_dir, org_dir)
    streams = {stream["name"]: stream for stream in found}
    assert {"users", "products", "purchases"} <= set(streams)
    users = streams["users"]
    assert "email" in users["properties"]
    assert users["incremental"] and "incremental" in users["sync_modes"]
    assert users["cursor_field"] == ["updated_at"]
    assert users["primary_key"] == [["id"]]


def test_discover_a_csv_over_https(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path, people_csv: str
) -> None:
    (stream,) = discover_streams("source-file", file_config(people_csv), connectors_dir, org_dir)
    assert stream["name"] == "people"
    assert stream["properties"] == ["id", "name", "age"]
    assert stream["sync_modes"] == ["full_refresh"] and not stream["incremental"]


def test_discover_with_an_invalid_config_raises(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path
) -> None:
    with pytest.raises(SourceError, match="url: a value is required"):
        discover_streams(
            "source-file",
            {"dataset_name": "x", "format": "csv", "provider": {"storage": "HTTPS"}},
            connectors_dir,
            org_dir,
        )


def test_read_faker_into_a_duckdb_cache(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path, tmp_path: Path
) -> None:
    config = {"count": 25, "seed": 7}
    source = get_source("source-faker", config, ["users", "products"], connectors_dir, org_dir)
    from airbyte.caches import DuckDBCache

    cache = DuckDBCache(db_path=tmp_path / "cache.duckdb", schema_name="raw")
    result = source.read(cache=cache)
    counts = {name: len(list(dataset)) for name, dataset in result.streams.items()}
    assert counts["users"] == 25
    assert counts["products"] > 0


def test_read_a_csv_over_https_into_a_duckdb_cache(
    installed: dict[str, Path], connectors_dir: Path, org_dir: Path, people_csv: str, tmp_path: Path
) -> None:
    source = get_source("source-file", file_config(people_csv), ["people"], connectors_dir, org_dir)
    from airbyte.caches import DuckDBCache

    cache = DuckDBCache(db_path=tmp_path / "cache.duckdb", schema_name="raw")
    result = source.read(cache=cache)
    assert sorted(row["name"] for row in result["people"]) == ["Asha", "Bilal", "Chen"]
