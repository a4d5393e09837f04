"""Syncing a connection, holding the connection's lock for as long as it runs: with the embedded
engine (the source's connector run through PyAirbyte, writing into the org's warehouse) or through
the platform's Airbyte server (`dalgo.flows.ingest_server`), as the org's engine block says."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from dalgo.blocks.connection import ConnectionBlock
from dalgo.blocks.ingestion import IngestionEngineBlock
from dalgo.blocks.source import SourceBlock
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.command_limit import CommandTimeLimitError
from dalgo.connectors.catalogue import connector
from dalgo.connectors.install import default_connectors_dir
from dalgo.connectors.source import check_config, get_source, prepare_airbyte
from dalgo.connectors.spec import merge_secrets
from dalgo.flows.concurrency import hold_lock, org_run_slot
from dalgo.flows.results import record_result
from dalgo.flows.sources import org_folder
from dalgo.flows.time_limit import org_time_limit, run_held_to, stopped_state
from dalgo.flows.warehouse import outbound_warehouse_problem
from dalgo.naming import (
    SYNC_FLOW_NAME,
    connection_block_name,
    connection_tag,
    ingestion_engine_block_name,
    source_block_name,
    warehouse_block_name,
)
from dalgo.sandbox import warn_if_off
from dalgo.settings import get_settings


@contextmanager
def warehouse_cache(warehouse: WarehouseBlock, schema: str, state_dir: Path) -> Iterator[Any]:
    """The PyAirbyte cache that writes into the warehouse's schema (its sync state kept there too),
    closed after use: Postgres and DuckDB through the platform's writers (`dalgo.ingestion.writers`),
    their batch files in a private folder of this sync. A BigQuery key is written to a private file
    for as long as the cache is open."""
    prepare_airbyte()
    from airbyte.caches import BigQueryCache

    from dalgo.ingestion.writers.postgres import CopyPostgresCache

    cache: Any
    with tempfile.TemporaryDirectory(prefix="dalgo-sync-") as private:
        if warehouse.type == "postgres":
            batches = Path(private) / "batches"
            batches.mkdir(mode=0o700)
            cache = CopyPostgresCache(
                host=str(warehouse.host),
                port=int(warehouse.port or 5432),
                database=str(warehouse.database),
                username=str(warehouse.user),
                password=warehouse.password.get_secret_value() if warehouse.password else "",
                schema_name=schema,
                cache_dir=batches,
            )
        elif warehouse.type == "duckdb":
            cache = confined_duckdb_cache(warehouse, schema, Path(private))
        elif warehouse.type == "bigquery":
            cache = BigQueryCache(
                project_name=str(warehouse.project),
                dataset_name=schema,
                dataset_location=warehouse.location,
                credentials_path=str(bigquery_key_file(warehouse, Path(private))),
                cache_dir=state_dir,
            )
        else:
            raise ValueError(f"The embedded engine cannot write to a {warehouse.type} warehouse.")
        try:
            yield cache
        finally:
            cache.close()


def confined_duckdb_cache(warehouse: WarehouseBlock, schema: str, private: Path) -> Any:
    """PyAirbyte's DuckDB cache on the org's file, opened as the API opens it: the file checked to
    be a regular file reached without links, and every connection with external access off except
    for a private folder of this sync (PyAirbyte loads its batches from JSONL files there), its
    configuration locked. A view a tenant left in the file cannot read other files while the
    platform's process writes to it."""
    from sqlalchemy import event

    from dalgo.blocks.warehouses.duckdb import DuckDBBackend
    from dalgo.ingestion.writers.duckdb import QuickDuckDBCache

    backend = warehouse.backend()
    assert isinstance(backend, DuckDBBackend)
    reason = backend.unsafe_reason()
    if reason is not None:
        raise ValueError(f"The DuckDB warehouse cannot be synced into: {reason}.")
    batches = private / "batches"
    batches.mkdir(mode=0o700)
    cache = QuickDuckDBCache(db_path=str(warehouse.path), schema_name=schema, cache_dir=batches)
    allowed = str(batches).replace("'", "''") + "/"

    def confine(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute(f"SET allowed_directories = ['{allowed}']")
            cursor.execute("SET enable_external_access = false")
            cursor.execute("SET lock_configuration = true")
        finally:
            cursor.close()

    engine = cache.get_sql_engine()
    event.listen(engine, "connect", confine)
    engine.dispose()  # connections PyAirbyte opened while setting up are remade, confined
    return cache


def bigquery_key_file(warehouse: WarehouseBlock, folder: Path) -> Path:
    """The warehouse's service-account key, checked, in a file only this user can read; ValueError
    with the reason when the key is not a usable service-account key."""
    from dalgo.blocks.warehouses.bigquery import CredentialsError, service_account_info

    raw = warehouse.credentials_json.get_secret_value() if warehouse.credentials_json else ""
    try:
        info = service_account_info(raw)
    except CredentialsError as exc:
        raise ValueError(f"The BigQuery warehouse cannot be synced into: {exc}.") from None
    path = folder / "key.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps(info))
    return path


def read_into_warehouse(
    definition: str,
    config: dict[str, Any],
    streams: list[str] | None,
    warehouse: WarehouseBlock,
    schema: str,
    connectors: Path,
    org_dir: Path,
) -> dict[str, Any]:
    """Read the source's streams (all of them for None) into the warehouse's schema: the connector
    (installed under `connectors`) runs in its sandbox, seeing `org_dir`, the org's own folder,
    only; the writer runs here, outside it. The config is checked against the connector's kept
    spec first, so PyAirbyte need not start the connector once more to ask for it. The result has
    the records and bytes read per stream and the duration of the read and the writes."""
    item = connector(definition)
    check_config(item, config, connectors)
    source = get_source(item, config, streams, connectors, org_dir)
    if streams is None:
        source.select_all_streams()
    started = time.monotonic()
    with warehouse_cache(warehouse, schema, connectors.parent / "airbyte" / "cache") as cache:
        result = source.read(cache=cache, skip_validation=True)
        processed = int(result.processed_records)
        synced = set(result.streams)
    tracker = getattr(result, "_progress_tracker", None)
    counts: dict[str, int] = dict(getattr(tracker, "stream_read_counts", {}) or {})
    sizes: dict[str, int] = dict(getattr(tracker, "stream_bytes_read", {}) or {})
    per_stream = {
        name: {"records": counts.get(name, 0), "bytes": sizes.get(name, 0)}
        for name in sorted(synced | set(counts))
    }
    return {
        "records": processed,
        "streams": per_stream,
        "duration_s": round(time.monotonic() - started, 3),
        "destination_schema": schema,
    }


def _read(
    org: str,
    source_block: SourceBlock,
    config: dict[str, Any],
    connection: ConnectionBlock,
    warehouse: WarehouseBlock,
) -> dict[str, Any]:
    """Read the connection's streams into the org's warehouse, with this worker's connectors."""
    return read_into_warehouse(
        source_block.definition,
        config,
        connection.streams,
        warehouse,
        connection.destination_schema,
        default_connectors_dir(),
        org_folder(org),
    )


async def org_engine(org: str) -> IngestionEngineBlock:
    """The org's ingestion engine block; the embedded engine for an org that never chose."""
    try:
        block: IngestionEngineBlock = await IngestionEngineBlock.aload(ingestion_engine_block_name(org))
    except ValueError:
        return IngestionEngineBlock()
    return block


@flow(name=SYNC_FLOW_NAME)
async def sync_connection(org: str, connection_id: str) -> dict[str, Any]:
    """Sync the connection's streams into the org's warehouse; the result has records and bytes
    per stream and the duration. Incremental streams resume from the state kept with the data. A
    connector that runs past the org's time limit for a command is stopped and fails the run."""
    logger = get_run_logger()
    warn_if_off(get_settings(), logger)
    connection: ConnectionBlock = await ConnectionBlock.aload(connection_block_name(org, connection_id))
    source_block: SourceBlock = await SourceBlock.aload(source_block_name(org, connection.source_id))
    warehouse: WarehouseBlock = await WarehouseBlock.aload(warehouse_block_name(org))
    config = merge_secrets(source_block.config, source_block.secrets.get_secret_value())
    engine = await org_engine(org)
    problem = outbound_warehouse_problem(warehouse, get_settings())
    if problem is not None:
        raise ValueError(f"The warehouse cannot be synced into: {problem}")
    wait_s = get_settings().lock_wait_timeout_s
    limit = await org_time_limit(org)
    async with (
        org_run_slot(org, wait_s),
        hold_lock(org, connection_tag(connection_id), get_settings().lock_lease_s, wait_s),
    ):
        logger.info(
            "Syncing %s (%s) into the %s warehouse, schema %s, with the %s engine",
            connection.title,
            source_block.definition,
            warehouse.type,
            connection.destination_schema,
            engine.engine,
        )
        if engine.engine == "airbyte-server":
            from dalgo.flows.ingest_server import sync_on_server

            result = await sync_on_server(
                org, connection_id, connection, source_block, config, warehouse, engine, logger
            )
        else:
            try:
                result = await run_held_to(limit, _read, org, source_block, config, connection, warehouse)
            except CommandTimeLimitError as error:
                return stopped_state(error, logger)  # type: ignore[return-value]
    for name, stream in result["streams"].items():
        logger.info("%s: %d records, %d bytes", name, stream["records"], stream["bytes"])
    logger.info("Synced %d records in %.1f s", result["records"], result["duration_s"])
    await record_result(result)
    return result
