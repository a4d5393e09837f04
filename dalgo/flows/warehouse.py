"""Flows over an org's warehouse."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.flows.results import record_result
from dalgo.naming import org_object_name

WAREHOUSE_BLOCK_SUFFIX = "warehouse"


def warehouse_block_name(org: str) -> str:
    """The name of the org's warehouse block."""
    return org_object_name(org, WAREHOUSE_BLOCK_SUFFIX)


@flow(name="check-warehouse")
async def check_warehouse(org: str) -> dict[str, Any]:
    """Load the org's saved warehouse and check that it answers; the result is `{ok, message}`."""
    logger = get_run_logger()
    try:
        warehouse: WarehouseBlock = await WarehouseBlock.aload(warehouse_block_name(org))
    except ValueError:
        result = {"ok": False, "message": f"The organization '{org}' has no warehouse yet."}
    else:
        logger.info("Checking the %s warehouse of %s", warehouse.type, org)
        checked = warehouse.check()
        result = {"ok": checked.ok, "message": checked.message}
    log = logger.info if result["ok"] else logger.warning
    log("Result: %s", result["message"])
    await record_result(result)
    return result
