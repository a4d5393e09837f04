"""Flows over an org's warehouse."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.flows.results import record_result
from dalgo.naming import CHECK_WAREHOUSE_FLOW_NAME, warehouse_block_name
from dalgo.netguard import outbound_problem
from dalgo.settings import Settings, get_settings


def outbound_warehouse_problem(warehouse: WarehouseBlock, settings: Settings) -> str | None:
    """Why the platform may not connect to the warehouse's host now (checked again at every run, so
    a name whose addresses changed since it was saved is caught), or None."""
    if warehouse.type == "postgres" and warehouse.host is not None:
        return outbound_problem(warehouse.host, settings)
    return None


@flow(name=CHECK_WAREHOUSE_FLOW_NAME)
async def check_warehouse(org: str) -> dict[str, Any]:
    """Load the org's saved warehouse and check that it answers; the result is `{ok, message}`."""
    logger = get_run_logger()
    try:
        warehouse: WarehouseBlock = await WarehouseBlock.aload(warehouse_block_name(org))
    except ValueError:
        result = {"ok": False, "message": f"The organization '{org}' has no warehouse yet."}
    else:
        logger.info("Checking the %s warehouse of %s", warehouse.type, org)
        problem = outbound_warehouse_problem(warehouse, get_settings())
        if problem is not None:
            result = {"ok": False, "message": problem}
        else:
            checked = warehouse.check()
            result = {"ok": checked.ok, "message": checked.message}
    log = logger.info if result["ok"] else logger.warning
    log("Result: %s", result["message"])
    await record_result(result)
    return result
