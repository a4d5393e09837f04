"""Tell the platform admins about runs that have been running for too long, once per run."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentTaskRunId,
    FlowRunFilterStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dalgo.alerts.delivery import Message
from dalgo.alerts.failures import LONG_RUNNING, alerted_runs, record_alert, run_link
from dalgo.alerts.recipients import platform_admins
from dalgo.db.columns import utcnow
from dalgo.db.models import Org
from dalgo.db.notification_models import PLATFORM_KINDS
from dalgo.flow_run_pages import all_runs
from dalgo.flows.maintenance._common import api_database, plural
from dalgo.flows.maintenance.notify import send_pending_mails
from dalgo.flows.results import record_result
from dalgo.naming import KIND_TAG_PREFIX, ORG_TAG_PREFIX, org_tag, tag_value
from dalgo.settings import Settings, get_settings

LONG_RUN_KIND = PLATFORM_KINDS[0]


async def long_runs(
    client: PrefectClient, started_before: datetime, only_orgs: list[str] | None
) -> list[FlowRun]:
    """Top-level runs still running that started before `started_before`, read by start-time
    ranges so that a run ending meanwhile does not hide another."""
    found: dict[uuid.UUID, FlowRun] = {}
    tag_sets: list[list[str] | None] = [[org_tag(o)] for o in only_orgs] if only_orgs is not None else [None]
    for tags in tag_sets:
        run_filter = FlowRunFilter(
            tags=FlowRunFilterTags(all_=tags) if tags else None,
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
            start_time=FlowRunFilterStartTime(before_=started_before),
            parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True),
        )
        found.update((run.id, run) for run in await all_runs(client, run_filter, "start"))
    return list(found.values())


def long_run_message(settings: Settings, run: FlowRun, org: Org | None, hours: float) -> Message:
    """The alert about one long run."""
    kind = tag_value(run.tags, KIND_TAG_PREFIX) or "platform"
    started = f"{run.start_time:%Y-%m-%d %H:%M} UTC" if run.start_time else "(unknown)"
    running_h = (utcnow() - run.start_time).total_seconds() / 3600 if run.start_time else hours
    where = org.name if org is not None else "the platform"
    ui = (settings.prefect_api_url or "").rstrip("/").removesuffix("/api")
    lines = [
        f"A {kind} run of {where} has been running for {running_h:.1f} hours (the alert is at {hours:g}).",
        "",
        f"Run: {run.name} ({run.id})",
        f"Started: {started}",
    ]
    if org is not None:
        lines.append(f"In the dashboard: {run_link(settings, org.slug, run.id)}")
    if ui:
        lines.append(f"In the Prefect UI: {ui}/runs/flow-run/{run.id}")
    lines += ["", "You get this as a platform admin of Dalgo. This run is not reported again."]
    return Message(
        kind=LONG_RUN_KIND,
        subject=f"[Dalgo] A run of {where} has been running for {running_h:.1f} hours: {run.name}",
        body="\n".join(lines) + "\n",
        link=run_link(settings, org.slug, run.id) if org is not None else None,
        flow_run_id=run.id,
        org_id=org.id if org is not None else None,
    )


async def alert_on_long_runs(
    client: PrefectClient, engine: Engine, settings: Settings, hours: float, only_orgs: list[str] | None
) -> dict[str, int]:
    """Record one alert (marker and a notification per platform admin) per long run not yet alerted."""
    runs = await long_runs(client, utcnow() - timedelta(hours=hours), only_orgs)
    with Session(engine) as session:
        known = alerted_runs(session, [r.id for r in runs], LONG_RUNNING)
        admins = platform_admins(session)
        slugs = {tag_value(r.tags, ORG_TAG_PREFIX) for r in runs} - {None}
        orgs = {o.slug: o for o in session.exec(select(Org).where(col(Org.slug).in_(slugs))).all()}
    alerted = 0
    for run in runs:
        if run.id in known:
            continue
        org = orgs.get(tag_value(run.tags, ORG_TAG_PREFIX) or "")
        message = long_run_message(settings, run, org, hours)
        if record_alert(engine, run, LONG_RUNNING, org.id if org else None, admins, message):
            alerted += 1
    return {"long_runs": len(runs), "alerted": alerted, "already_alerted": len(known), "admins": len(admins)}


@flow(name="alert-long-runs")
async def alert_long_runs(
    threshold_hours: float | None = None, only_orgs: list[str] | None = None
) -> dict[str, Any]:
    """Alert the platform admins, once per run, about runs running longer than `threshold_hours`
    (default DALGO_LONG_RUN_ALERT_HOURS, 2 hours)."""
    settings = get_settings()
    hours = threshold_hours if threshold_hours is not None else settings.long_run_alert_hours
    with api_database(settings) as engine:
        async with get_client() as client:
            result: dict[str, Any] = await alert_on_long_runs(client, engine, settings, hours, only_orgs)
        delivered = await send_pending_mails(engine, settings)
    result["mails_sent"] = delivered.sent
    get_run_logger().info(
        "Found %s running longer than %g h: alerted %d new to %s; sent %s",
        plural(result["long_runs"], "run"),
        hours,
        result["alerted"],
        plural(result["admins"], "platform admin"),
        plural(delivered.sent, "mail"),
    )
    await record_result(result)
    return result
