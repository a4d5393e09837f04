"""The failure notifier: every minute, alert on runs that failed or crashed after their last retry,
then send every alert mail still pending (of any kind: failures, long runs, schema changes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
from prefect import flow, get_client, get_run_logger
from sqlalchemy import Engine

from dalgo.alerts.delivery import DeliveryReport, deliver_pending
from dalgo.alerts.failures import alert_failed_runs
from dalgo.flows.maintenance._common import api_database, plural
from dalgo.flows.results import record_result
from dalgo.mail import mailer_from_settings
from dalgo.settings import Settings, get_settings


async def send_pending_mails(engine: Engine, settings: Settings) -> DeliveryReport:
    """Deliver the pending alert mails (in a thread: the mailer blocks)."""
    retry_after = timedelta(minutes=settings.mail_retry_minutes)
    give_up_after = timedelta(hours=settings.mail_give_up_hours)
    mailer = mailer_from_settings(settings)
    return await anyio.to_thread.run_sync(deliver_pending, engine, mailer, retry_after, give_up_after)


@flow(name="notify-failures")
async def notify_failures(only_orgs: list[str] | None = None) -> dict[str, Any]:
    """Record one alert per failed or crashed run (pipeline, sync, dbt, git) of the look-back window
    and mail its org's account and pipeline managers. Running it twice, or twice at once, alerts
    each run once."""
    logger = get_run_logger()
    settings = get_settings()
    with api_database(settings) as engine:
        async with get_client() as client:
            found = await alert_failed_runs(client, engine, settings, only_orgs)
        delivered = await send_pending_mails(engine, settings)
    logger.info(
        "Found %s in the last %s h: alerted %d (%s), %d already alerted, %d taken by another notifier",
        plural(found.failed_runs, "failed run"),
        f"{settings.failure_lookback_hours:g}",
        found.alerted,
        plural(found.notifications, "notification"),
        found.already_alerted,
        found.lost_race,
    )
    logger.info(
        "Sent %s; %d to retry, %d given up",
        plural(delivered.sent, "mail"),
        delivered.deferred,
        delivered.failed,
    )
    for error in delivered.errors[:5]:
        logger.warning("Mail error: %s", error)
    result = {
        "failed_runs": found.failed_runs,
        "alerted": found.alerted,
        "already_alerted": found.already_alerted,
        "notifications": found.notifications,
        "alerted_run_ids": found.alerted_run_ids,
        "mails_sent": delivered.sent,
        "mails_deferred": delivered.deferred,
        "mails_failed": delivered.failed,
    }
    await record_result(result)
    return result
