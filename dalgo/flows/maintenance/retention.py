"""Run retention: delete each org's finished runs older than its retention (`Org.retention_days`,
90 days unless set), with their subflow runs, the alerts about them and its audit entries. Audit
entries of no org (failed sign-ins, those of a deleted org) go after `settings.audit_retention_days`.

A run's age is when it was due (its expected start time). Deleting a flow run in Prefect deletes
its task runs and states; its logs and result artifacts are removed by the Prefect server's
orphan vacuum (`PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED` including `orphans`, which `dalgo serve`
sets): Prefect's API has no call to delete logs.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from sqlalchemy import Engine, delete
from sqlmodel import Session, col

from dalgo.db.columns import utcnow
from dalgo.db.models import AuditEntry, Org
from dalgo.db.notification_models import Notification, RunAlert
from dalgo.flows.maintenance._common import api_database, orgs_to_visit, plural
from dalgo.flows.results import record_result
from dalgo.naming import org_tag
from dalgo.settings import get_settings

FINAL = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
PAGE = 200


async def _with_subflows(client: PrefectClient, run_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """The runs and every subflow run below them, deepest first."""
    layers = [run_ids]
    seen = set(run_ids)
    while layers[-1]:
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=layers[-1]))
        )
        layers.append([c.id for c in children if c.id not in seen])
        seen.update(layers[-1])
    return [run_id for layer in reversed(layers) for run_id in layer]


async def delete_old_runs(client: PrefectClient, org: str, cutoff: datetime) -> int:
    """Delete the org's finished runs due before `cutoff` (and their subflows); how many."""
    run_filter = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[org_tag(org)]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=FINAL)),
        expected_start_time=FlowRunFilterExpectedStartTime(before_=cutoff),
    )
    deleted = 0
    seen: set[uuid.UUID] = set()
    while True:
        page = [r.id for r in await client.read_flow_runs(flow_run_filter=run_filter, limit=PAGE)]
        page = [r for r in page if r not in seen]
        if not page:
            return deleted
        seen.update(page)
        for run_id in await _with_subflows(client, page):
            with contextlib.suppress(ObjectNotFound):
                await client.delete_flow_run(run_id)
                deleted += 1


def forget_alerts(engine: Engine, org: Org, cutoff: datetime) -> int:
    """Delete the org's alert markers and notifications older than `cutoff`; how many notifications."""
    with Session(engine) as session:
        session.exec(
            delete(RunAlert).where(col(RunAlert.org_id) == org.id, col(RunAlert.created_at) < cutoff)
        )
        notifications = session.exec(
            delete(Notification).where(
                col(Notification.org_id) == org.id, col(Notification.created_at) < cutoff
            )
        ).rowcount
        session.commit()
    return int(notifications)


def forget_audit_entries(engine: Engine, org_id: uuid.UUID | None, cutoff: datetime) -> int:
    """Delete the audit entries of the org (or of no org, for None) made before `cutoff`; how many."""
    owner = col(AuditEntry.org_id).is_(None) if org_id is None else col(AuditEntry.org_id) == org_id
    with Session(engine) as session:
        deleted = session.exec(delete(AuditEntry).where(owner, col(AuditEntry.created_at) < cutoff)).rowcount
        session.commit()
    return int(deleted)


@flow(name="apply-retention")
async def apply_retention(only_orgs: list[str] | None = None) -> dict[str, Any]:
    """Delete every org's finished runs older than its retention, the alerts about them and its
    audit entries; on a run over every org (no `only_orgs`) also the old audit entries of no org."""
    logger = get_run_logger()
    settings = get_settings()
    now = utcnow()
    removed: dict[str, dict[str, int]] = {}
    audit_entries: dict[str, int] = {}
    with api_database(settings) as engine:
        orgs = orgs_to_visit(engine, only_orgs)
        async with get_client() as client:
            for org in orgs:
                cutoff = now - timedelta(days=org.retention_days)
                runs = await delete_old_runs(client, org.slug, cutoff)
                marker_cutoff = min(cutoff, now - timedelta(hours=2 * settings.failure_lookback_hours))
                notifications = forget_alerts(engine, org, marker_cutoff)
                audit_entries[org.slug] = forget_audit_entries(engine, org.id, cutoff)
                if runs or notifications:
                    removed[org.slug] = {"runs": runs, "notifications": notifications}
                    logger.info(
                        "%s: deleted %s and %s older than %d days",
                        org.slug,
                        plural(runs, "run"),
                        plural(notifications, "notification"),
                        org.retention_days,
                    )
        of_no_org = 0
        if only_orgs is None:
            of_no_org = forget_audit_entries(
                engine, None, now - timedelta(days=settings.audit_retention_days)
            )
    total = sum(r["runs"] for r in removed.values())
    audit_total = sum(audit_entries.values()) + of_no_org
    logger.info(
        "Deleted %s and %d audit entries of %s",
        plural(total, "run"),
        audit_total,
        plural(len(orgs), "org"),
    )
    result = {
        "orgs": len(orgs),
        "runs_deleted": total,
        "by_org": removed,
        "audit_entries_deleted": audit_total,
        "audit_entries_by_org": {slug: n for slug, n in audit_entries.items() if n},
    }
    await record_result(result)
    return result
