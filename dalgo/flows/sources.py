"""Flows over an org's sources: check the connection, discover the streams (the connector runs in
its sandbox, seeing the org's own folder only, held to the org's time limit for a command)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from dalgo.blocks.source import SourceBlock
from dalgo.command_limit import CommandTimeLimitError
from dalgo.connectors.catalogue import connector
from dalgo.connectors.install import default_connectors_dir
from dalgo.connectors.source import check_source, discover_streams
from dalgo.connectors.spec import merge_secrets
from dalgo.flows.results import record_result
from dalgo.flows.time_limit import org_time_limit, run_held_to, stopped_state
from dalgo.naming import CHECK_SOURCE_FLOW_NAME, DISCOVER_SOURCE_FLOW_NAME, source_block_name
from dalgo.sandbox import warn_if_off
from dalgo.settings import get_settings


def _scrub(text: str, secrets: dict[str, Any]) -> str:
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "********")
    return text


async def _load(org: str, source_id: str) -> tuple[SourceBlock, dict[str, Any], dict[str, Any]]:
    block: SourceBlock = await SourceBlock.aload(source_block_name(org, source_id))
    secrets = block.secrets.get_secret_value()
    return block, merge_secrets(block.config, secrets), secrets


def org_folder(org: str) -> Path:
    """The org's own folder: the one folder of the platform its connectors' sandboxes see."""
    return get_settings().org_home(org)


@flow(name=CHECK_SOURCE_FLOW_NAME)
async def check_source_flow(org: str, source_id: str) -> dict[str, Any]:
    """Check that the source's connector can connect with its configuration: `{ok, message}`."""
    logger = get_run_logger()
    warn_if_off(get_settings(), logger)
    block, config, secrets = await _load(org, source_id)
    logger.info("Checking %s (%s)", block.title, block.definition)
    limit = await org_time_limit(org)
    try:
        ok, message = await run_held_to(
            limit,
            check_source,
            connector(block.definition),
            config,
            default_connectors_dir(),
            org_folder(org),
        )
    except CommandTimeLimitError as error:
        return stopped_state(error, logger)  # type: ignore[return-value]
    result = {"ok": ok, "message": _scrub(message, secrets)}
    (logger.info if ok else logger.warning)("Result: %s", result["message"])
    await record_result(result)
    return result


@flow(name=DISCOVER_SOURCE_FLOW_NAME)
async def discover_source_flow(org: str, source_id: str) -> dict[str, Any]:
    """List the streams the source offers, with their fields and sync modes: `{streams}`."""
    logger = get_run_logger()
    warn_if_off(get_settings(), logger)
    block, config, _ = await _load(org, source_id)
    logger.info("Discovering the streams of %s (%s)", block.title, block.definition)
    limit = await org_time_limit(org)
    try:
        streams = await run_held_to(
            limit,
            discover_streams,
            connector(block.definition),
            config,
            default_connectors_dir(),
            org_folder(org),
        )
    except CommandTimeLimitError as error:
        return stopped_state(error, logger)  # type: ignore[return-value]
    logger.info("Found %d streams: %s", len(streams), ", ".join(s["name"] for s in streams))
    result = {"streams": streams}
    await record_result(result)
    return result
