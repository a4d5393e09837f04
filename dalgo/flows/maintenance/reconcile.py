"""Reconcile Prefect with the API database.

- Orphans: Prefect objects of an org that no longer exists in the API database (deployments and
  flow runs tagged `org:<slug>` or named `<slug>--...`, the platform's blocks named `<slug>--...`,
  locks `lock:<slug>:...` and the tag limit `tag:org:<slug>`) are removed, as the delete-org flow
  would have. Flow runs are found by the tags of the runs due in the last `run_scan_days`, and all
  runs of an org found orphaned by any object are removed.
- Missing deployments: every check in the registry (`dalgo.flows.maintenance.registry`) reports
  the objects of each org whose deployment is missing, and recreates it.

Safety: when the API database has no org at all while Prefect holds objects of orgs, nothing is
removed (the flow may be pointed at the wrong database) unless `force` is set; `dry_run` reports
without changing anything.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterExpectedStartTime
from prefect.exceptions import ObjectNotFound
from sqlmodel import Session, select

from dalgo.db.columns import utcnow
from dalgo.db.models import Org
from dalgo.flows.maintenance._common import api_database, orgs_to_visit, plural
from dalgo.flows.maintenance.registry import MissingDeployment, registered_checks
from dalgo.flows.results import record_result
from dalgo.naming import (
    BLOCK_TYPE_PREFIX,
    LOCK_PREFIX,
    ORG_NAME_SEPARATOR,
    ORG_TAG_PREFIX,
    lock_org,
    org_limit_name,
    org_lock_prefix,
    org_of_limit,
    tag_value,
)
from dalgo.prefect_objects import filter_block_documents, org_deployment_ids, org_flow_run_ids
from dalgo.settings import get_settings

PAGE = 200
PLATFORM_BLOCK_TYPES = ("secret",)
"""Block types other than Dalgo's own (`dalgo-*`) that the platform saves for orgs."""


def _slug_of_name(name: str) -> str | None:
    slug, separator, _ = name.partition(ORG_NAME_SEPARATOR)
    return slug if separator and slug else None


def _platform_block(type_slug: str) -> bool:
    return type_slug.startswith(BLOCK_TYPE_PREFIX) or type_slug in PLATFORM_BLOCK_TYPES


async def _pages(read: Any) -> list[Any]:
    items: list[Any] = []
    offset = 0
    while True:
        page = await read(offset)
        items.extend(page)
        if len(page) < PAGE:
            return items
        offset += PAGE


async def _block_documents(client: PrefectClient, like: str) -> list[dict[str, Any]]:
    async def read(offset: int) -> list[dict[str, Any]]:
        documents = await filter_block_documents(client, like, limit=PAGE, offset=offset)
        return [d for d in documents if _platform_block((d.get("block_type") or {}).get("slug", ""))]

    return await _pages(read)


async def tenant_slugs(client: PrefectClient, run_scan_days: float) -> set[str]:
    """Every org slug that some deployment, block, lock or recent flow run in Prefect belongs to."""
    slugs: set[str] = set()
    deployments = await _pages(lambda offset: client.read_deployments(limit=PAGE, offset=offset))
    for deployment in deployments:
        slugs.add(tag_value(deployment.tags, ORG_TAG_PREFIX) or _slug_of_name(deployment.name) or "")
    for document in await _block_documents(client, f"%{ORG_NAME_SEPARATOR}%"):
        slugs.add(_slug_of_name(document["name"]) or "")
    limits = await _pages(lambda offset: client.read_global_concurrency_limits(limit=PAGE, offset=offset))
    for limit in limits:
        if limit.name.startswith(LOCK_PREFIX):
            slugs.add(lock_org(limit.name))
        else:
            slugs.add(org_of_limit(limit.name) or "")
    since = utcnow() - timedelta(days=run_scan_days)
    recent = FlowRunFilter(expected_start_time=FlowRunFilterExpectedStartTime(after_=since))
    runs = await _pages(
        lambda offset: client.read_flow_runs(flow_run_filter=recent, limit=PAGE, offset=offset)
    )
    for run in runs:
        slugs.add(tag_value(run.tags, ORG_TAG_PREFIX) or "")
    return slugs - {""}


async def remove_org_objects(client: PrefectClient, org: str) -> dict[str, int]:
    """Remove everything in Prefect that belongs to the (deleted) org; how many of each."""
    removed = {"deployments": 0, "flow_runs": 0, "blocks": 0, "locks": 0}
    deployments = set(await org_deployment_ids(client, org))
    named = await _pages(lambda offset: client.read_deployments(limit=PAGE, offset=offset))
    deployments.update(d.id for d in named if _slug_of_name(d.name) == org)
    for deployment_id in deployments:
        with contextlib.suppress(ObjectNotFound):
            await client.delete_deployment(deployment_id)
            removed["deployments"] += 1
    for run_id in await org_flow_run_ids(client, org):
        with contextlib.suppress(ObjectNotFound):
            await client.delete_flow_run(run_id)
            removed["flow_runs"] += 1
    for document in await _block_documents(client, f"{org}{ORG_NAME_SEPARATOR}%"):
        if _slug_of_name(document["name"]) == org:
            with contextlib.suppress(ObjectNotFound):
                await client.delete_block_document(document["id"])
                removed["blocks"] += 1
    limits = await _pages(lambda offset: client.read_global_concurrency_limits(limit=PAGE, offset=offset))
    for limit in limits:
        if limit.name.startswith(org_lock_prefix(org)) or limit.name == org_limit_name(org):
            with contextlib.suppress(ObjectNotFound):
                await client.delete_global_concurrency_limit_by_name(limit.name)
                removed["locks"] += 1
    return removed


@flow(name="reconcile-prefect")
async def reconcile_prefect(
    only_orgs: list[str] | None = None,
    dry_run: bool = False,
    force: bool = False,
    run_scan_days: float = 7.0,
) -> dict[str, Any]:
    """Remove what deleted orgs left in Prefect, and report and recreate missing deployments of
    the orgs that exist (connections' syncs, and whatever else registers a check)."""
    logger = get_run_logger()
    settings = get_settings()
    removed: dict[str, dict[str, int]] = {}
    missing: list[dict[str, Any]] = []
    with api_database(settings) as engine:
        with Session(engine) as session:
            known = set(session.exec(select(Org.slug)).all())
        async with get_client() as client:
            orphans = sorted(
                s
                for s in await tenant_slugs(client, run_scan_days) - known
                if only_orgs is None or s in only_orgs
            )
            if orphans and not known and not force:
                logger.error(
                    "The API database has no org while Prefect holds objects of %s: nothing removed "
                    "(run with force=true if this is right).",
                    plural(len(orphans), "org"),
                )
            elif orphans:
                for slug in orphans:
                    removed[slug] = {} if dry_run else await remove_org_objects(client, slug)
                    logger.info("Objects of the deleted org %s: %s", slug, removed[slug] or "(dry run)")
            checks = registered_checks()
            for org in orgs_to_visit(engine, only_orgs):
                for kind, check in checks.items():
                    found: list[MissingDeployment] = await check(client, settings, org.slug, not dry_run)
                    for item in found:
                        missing.append({"org": org.slug, **asdict(item)})
                        how = (
                            "recreated it" if item.recreated else f"not recreated: {item.error or 'dry run'}"
                        )
                        logger.warning(
                            "%s: the %s %s had no deployment; %s", org.slug, kind, item.object_id, how
                        )
    logger.info(
        "Removed the objects of %s; found %s with a missing deployment, recreated %d",
        plural(len(removed), "deleted org"),
        plural(len(missing), "object"),
        sum(1 for m in missing if m["recreated"]),
    )
    result = {"orphan_orgs": sorted(removed), "removed": removed, "missing_deployments": missing}
    await record_result(result)
    return result
