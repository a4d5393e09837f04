"""Syncing a connection through the platform's Airbyte server, in the org's own workspace.

The org's workspace is made on first use; its destination (the org's warehouse), the source and the
connection are created or updated by name before each sync. The sync is an Airbyte job followed by
its id, with a poll interval that backs off, and no overall time limit: a long sync is never failed
for taking long. The job's log lines are copied into the run's logs as they appear. If our run ends
for any other reason than the job ending (cancelled, killed, crashed), the job is cancelled too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio

from dalgo.blocks.connection import ConnectionBlock
from dalgo.blocks.ingestion import AirbyteServerBlock, IngestionEngineBlock
from dalgo.blocks.source import SourceBlock
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.ingestion.airbyte_server import AirbyteServer, AirbyteServerError, JobStatus
from dalgo.ingestion.server_objects import (
    DESTINATION_NAME,
    connection_name,
    destination_configuration,
    redact,
    source_configuration,
    source_name,
)
from dalgo.naming import AIRBYTE_SERVER_BLOCK_NAME, ingestion_engine_block_name

FIRST_POLL_S = 1.0
MAX_POLL_S = 30.0
BACKOFF = 1.5
MAX_CONSECUTIVE_ERRORS = 20


class ServerSyncError(RuntimeError):
    """A sync through the Airbyte server failed; the message says why, without secrets."""


async def load_server() -> AirbyteServer:
    """A client of the platform's Airbyte server, or ServerSyncError when none is set up."""
    try:
        block: AirbyteServerBlock = await AirbyteServerBlock.aload(AIRBYTE_SERVER_BLOCK_NAME)
    except ValueError:
        raise ServerSyncError(
            "This organization syncs through an Airbyte server, but the platform has none set up "
            "(`dalgo admin airbyte-server`)."
        ) from None
    return AirbyteServer(block)


async def ensure_workspace(server: AirbyteServer, org: str, engine: IngestionEngineBlock) -> str:
    """The org's workspace id, made (and remembered in the org's engine block) on first use."""
    if engine.workspace_id:
        return engine.workspace_id
    workspace_id = await anyio.to_thread.run_sync(server.create_workspace, f"dalgo-{org}")
    engine.workspace_id = workspace_id
    await engine.asave(ingestion_engine_block_name(org), overwrite=True)
    return workspace_id


async def _poll(
    server: AirbyteServer, job_id: int, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> JobStatus:
    """Follow the job until it ends, copying its new log lines into the run's logs."""
    delay = FIRST_POLL_S
    copied = 0
    errors = 0
    while True:
        await anyio.sleep(delay)
        try:
            status = await anyio.to_thread.run_sync(server.job, job_id)
            details = await anyio.to_thread.run_sync(server.job_details, job_id)
        except AirbyteServerError as exc:
            errors += 1
            if errors >= MAX_CONSECUTIVE_ERRORS:
                raise ServerSyncError(f"Lost track of Airbyte job {job_id}: {exc}") from None
            logger.warning("Could not read Airbyte job %s (attempt %d): %s", job_id, errors, exc)
            delay = min(delay * 2, MAX_POLL_S)
            continue
        errors = 0
        for line in details.log_lines[copied:]:
            logger.info("airbyte: %s", line)
        copied = max(copied, len(details.log_lines))
        if status.finished:
            return status
        delay = min(delay * BACKOFF, MAX_POLL_S)


async def sync_on_server(
    org: str,
    connection_id: str,
    connection: ConnectionBlock,
    source: SourceBlock,
    config: dict[str, Any],
    warehouse: WarehouseBlock,
    engine: IngestionEngineBlock,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> dict[str, Any]:
    """Sync the connection as an Airbyte job in the org's workspace; the run's result."""
    secrets = [str(v) for v in source.secrets.get_secret_value().values() if isinstance(v, str)]
    secrets += [
        s.get_secret_value() for s in (warehouse.password, warehouse.credentials_json) if s is not None
    ]
    server = await load_server()
    started = time.monotonic()
    try:
        workspace = await ensure_workspace(server, org, engine)
        destination_id = await anyio.to_thread.run_sync(
            server.put_destination, workspace, DESTINATION_NAME, destination_configuration(warehouse)
        )
        source_id = await anyio.to_thread.run_sync(
            server.put_source,
            workspace,
            source_name(connection.source_id),
            source_configuration(source.definition, config),
        )
        airbyte_connection = await anyio.to_thread.run_sync(
            server.put_connection,
            workspace,
            connection_name(connection_id),
            source_id,
            destination_id,
            connection.streams,
            connection.destination_schema,
        )
        job_id = await anyio.to_thread.run_sync(server.start_sync, airbyte_connection)
    except (AirbyteServerError, ValueError) as exc:
        raise ServerSyncError(redact(str(exc), secrets)) from None
    logger.info("Started Airbyte job %s in workspace %s", job_id, workspace)
    finished = False
    try:
        status = await _poll(server, job_id, logger)
        finished = True
    finally:
        if not finished:
            _cancel_quietly(server, job_id, logger)
    details = await anyio.to_thread.run_sync(server.job_details, job_id)
    if status.status != "succeeded":
        reason = redact(details.failure or "see the Airbyte log lines above", secrets)
        raise ServerSyncError(f"Airbyte job {job_id} ended {status.status}: {reason}")
    return {
        "engine": "airbyte-server",
        "job_id": job_id,
        "records": status.rows_synced,
        "bytes": status.bytes_synced,
        "streams": details.streams,
        "duration_s": round(time.monotonic() - started, 3),
        "destination_schema": connection.destination_schema,
    }


def _cancel_quietly(
    server: AirbyteServer, job_id: int, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> None:
    """Cancel the job (blocking: this runs while the run is being torn down, when awaiting may not)."""
    try:
        server.cancel_job(job_id)
        logger.warning("Cancelled Airbyte job %s because this run stopped.", job_id)
    except AirbyteServerError as exc:
        logger.error("Could not cancel Airbyte job %s: %s", job_id, exc)
