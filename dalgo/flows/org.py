"""Removing an org: everything it owns in Prefect, its local files, then its rows in the API database."""

from __future__ import annotations

import contextlib
import shutil
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run as current_run
from prefect.states import Cancelling
from sqlmodel import Session, select

from dalgo.db.engine import make_engine
from dalgo.db.models import Org
from dalgo.flows.results import record_result
from dalgo.flows.time_limit import remove_org_time_limit
from dalgo.ingestion.workspace import remove_workspace
from dalgo.naming import DELETE_ORG_FLOW_NAME, org_tag
from dalgo.prefect_objects import (
    org_block_documents,
    org_concurrency_limit_names,
    org_deployment_ids,
    org_flow_run_ids,
)
from dalgo.settings import get_settings

ACTIVE_STATES = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED]


@flow(name=DELETE_ORG_FLOW_NAME)
async def delete_org(org: str) -> dict[str, Any]:
    """Remove every block, deployment, flow run, concurrency limit and variable of the org, its Airbyte
    workspace (if it has one), its local files, then its memberships, invitations and the org
    itself. Running it twice is harmless."""
    logger = get_run_logger()
    removed: dict[str, int] = {}
    async with get_client() as client:
        active = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[org_tag(org)]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE_STATES)),
            )
        )
        for run in active:
            if str(run.id) != str(current_run.id):
                await client.set_flow_run_state(
                    run.id, Cancelling(message="The organization is being deleted."), force=True
                )
        removed["cancelled_runs"] = len(active)

        deployments = await org_deployment_ids(client, org)
        for deployment_id in deployments:
            with contextlib.suppress(ObjectNotFound):
                await client.delete_deployment(deployment_id)
        removed["deployments"] = len(deployments)

        runs = [r for r in await org_flow_run_ids(client, org) if str(r) != str(current_run.id)]
        for run_id in runs:
            with contextlib.suppress(ObjectNotFound):
                await client.delete_flow_run(run_id)
        removed["flow_runs"] = len(runs)

        removed["airbyte_workspace"] = int(await remove_workspace(client, org))
        if removed["airbyte_workspace"]:
            logger.info("Removed the organization's Airbyte workspace")

        blocks = await org_block_documents(client, org)
        for document in blocks:
            with contextlib.suppress(ObjectNotFound):
                await client.delete_block_document(document["id"])
        removed["blocks"] = len(blocks)

        limits = await org_concurrency_limit_names(client, org)
        for name in limits:
            with contextlib.suppress(ObjectNotFound):
                await client.delete_global_concurrency_limit_by_name(name)
        removed["concurrency_limits"] = len(limits)
        removed["variables"] = int(await remove_org_time_limit(client, org))
    logger.info("Removed from Prefect: %s", removed)

    folder = get_settings().org_home(org)
    if folder.exists():
        shutil.rmtree(folder)
        logger.info("Removed the local files of %s", org)

    engine = make_engine(get_settings().resolved_database_url)
    with Session(engine) as session:
        found = session.exec(select(Org).where(Org.slug == org)).first()
        if found is not None:
            session.delete(found)
            session.commit()
    engine.dispose()
    removed["org"] = int(found is not None)
    logger.info("The organization %s is deleted.", org)
    result: dict[str, Any] = {"org": org, "removed": removed}
    await record_result(result)
    return result
