"""Failure alerts: each failed or crashed run of a pipeline, sync, dbt command or git operation is
told once to its org's account managers and pipeline managers, in the app and (unless they opted
out) by mail.

The run's marker (`RunAlert`, unique per run and reason) and its notifications are committed in
one transaction; a notifier that finds the marker already there (another one got first) rolls its
own back. Mails go out afterwards through `dalgo.alerts.delivery`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, StateType
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dalgo.alerts.delivery import Message, Recipient, add_notifications
from dalgo.alerts.recipients import FAILURE_ROLES, org_members
from dalgo.alerts.run_facts import FailureFacts, failed_runs, failure_facts
from dalgo.db.columns import utcnow
from dalgo.db.models import Org
from dalgo.db.notification_models import RunAlert
from dalgo.naming import KIND_TAG_PREFIX, ORG_TAG_PREFIX, tag_value
from dalgo.settings import Settings

FAILED = "failed"
LONG_RUNNING = "long_running"
RUN_FAILED_KIND = "run_failed"


def run_link(settings: Settings, org: str, run_id: uuid.UUID) -> str:
    """Where a person sees the run and its logs in the dashboard."""
    return f"{settings.public_url.rstrip('/')}/orgs/{org}/runs/{run_id}"


def alerted_runs(session: Session, run_ids: list[uuid.UUID], reason: str) -> set[uuid.UUID]:
    """Which of the runs already have a marker for the reason."""
    if not run_ids:
        return set()
    rows = session.exec(
        select(RunAlert.flow_run_id).where(col(RunAlert.flow_run_id).in_(run_ids), RunAlert.reason == reason)
    ).all()
    return set(rows)


def record_alert(
    engine: Engine,
    run: FlowRun,
    reason: str,
    org_id: uuid.UUID | None,
    recipients: list[Recipient],
    message: Message,
) -> bool:
    """Commit the run's marker with one notification per recipient; False when the run already had
    one (nothing is written then)."""
    state = (run.state.name or run.state.type.value) if run.state is not None else "unknown"
    with Session(engine) as session:
        session.add(RunAlert(flow_run_id=run.id, reason=reason, org_id=org_id, run_state=state[:32]))
        add_notifications(session, recipients, message)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def failure_message(settings: Settings, org: Org, run: FlowRun, facts: FailureFacts) -> Message:
    """The mail (and in-app notification) about a failed or crashed run."""
    crashed = run.state is not None and run.state.type == StateType.CRASHED
    verb = "crashed" if crashed else "failed"
    kind = tag_value(run.tags, KIND_TAG_PREFIX) or "run"
    link = run_link(settings, org.slug, run.id)
    ended = f" at {run.end_time:%Y-%m-%d %H:%M} UTC" if run.end_time else ""
    error = "\n".join(f"    {line}" for line in facts.error_lines) or "    (no error message was recorded)"
    body = (
        f"A {kind} run of {org.name} {verb}{ended}.\n\n"
        f"What: {facts.what}\n"
        f"Run: {run.name}\n"
        f"Failed step: {facts.step or 'the run itself'}\n"
        f"Error:\n{error}\n\n"
        f"See the run and its logs: {link}\n\n"
        f"You get this as an account manager or pipeline manager of {org.name}. "
        f"You can turn these mails off in your Dalgo preferences; they stay in the app.\n"
    )
    return Message(
        kind=RUN_FAILED_KIND,
        subject=f"[Dalgo] {org.name}: {facts.what} {verb}",
        body=body,
        link=link,
        flow_run_id=run.id,
        org_id=org.id,
    )


@dataclass
class FailureReport:
    """What one pass of the notifier found and did."""

    failed_runs: int = 0
    already_alerted: int = 0
    alerted: int = 0
    notifications: int = 0
    lost_race: int = 0
    without_org: int = 0
    alerted_run_ids: list[str] = field(default_factory=list)


async def alert_failed_runs(
    client: PrefectClient, engine: Engine, settings: Settings, only_orgs: list[str] | None = None
) -> FailureReport:
    """Record an alert for every failed run of the look-back window that has none yet."""
    report = FailureReport()
    since = utcnow() - timedelta(hours=settings.failure_lookback_hours)
    runs = await failed_runs(client, since, only_orgs)
    report.failed_runs = len(runs)
    with Session(engine) as session:
        known = alerted_runs(session, [r.id for r in runs], FAILED)
        slugs = {tag_value(r.tags, ORG_TAG_PREFIX) for r in runs} - {None}
        orgs = {o.slug: o for o in session.exec(select(Org).where(col(Org.slug).in_(slugs))).all()}
    for run in runs:
        if run.id in known:
            report.already_alerted += 1
            continue
        org = orgs.get(tag_value(run.tags, ORG_TAG_PREFIX) or "")
        if org is None:
            report.without_org += 1
            continue
        facts = await failure_facts(client, run, org.slug)
        with Session(engine) as session:
            recipients = org_members(session, org.id, FAILURE_ROLES, failure_mail=True)
        message = failure_message(settings, org, run, facts)
        if record_alert(engine, run, FAILED, org.id, recipients, message):
            report.alerted += 1
            report.notifications += len(recipients)
            report.alerted_run_ids.append(str(run.id))
        else:
            report.lost_race += 1
    return report
