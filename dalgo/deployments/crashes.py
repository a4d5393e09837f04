"""Runs whose process died (a worker killed, a machine gone) are marked crashed by Prefect itself.

Every flow run sends a heartbeat event (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, 180 s by default). A
Prefect automation watches for a running flow run whose heartbeats stop without it ending, and sets
it to Crashed (Prefect's documented "zombie flow" detection). The locks such a run held free
themselves when their leases run out; the org's run slot it held does too.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from dalgo.naming import org_object_prefix
from dalgo.settings import Settings

AUTOMATION_NAME = "dalgo-mark-silent-runs-crashed"
_ENDINGS = {f"prefect.flow-run.{name}" for name in ("Completed", "Failed", "Cancelled", "Crashed")}
_PAUSES = {f"prefect.flow-run.{name}" for name in ("AwaitingRetry", "Paused", "Suspended", "Scheduled")}
"""States in which a run sends no heartbeat without having died (waiting to retry, paused)."""
_known: dict[tuple[str, str], uuid.UUID] = {}


def crash_detection(within_s: float, org: str | None = None) -> AutomationCore:
    """The automation that marks a run crashed after `within_s` without a heartbeat; with `org`,
    only the org's runs (their names start with its slug)."""
    match: dict[str, str | list[str]] = {"prefect.resource.id": "prefect.flow-run.*"}
    name = AUTOMATION_NAME
    if org is not None:
        match["prefect.resource.name"] = f"{org_object_prefix(org)}*"
        name = f"{AUTOMATION_NAME}-{org}"
    return AutomationCore(
        name=name,
        description="Marks a running flow run crashed when its heartbeats stop (its process died).",
        trigger=EventTrigger(
            match=ResourceSpecification(match),
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *_ENDINGS, *_PAUSES},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within_s),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"The run sent no heartbeat for {within_s:.0f} s: its process died "
                    "(its worker or machine stopped)."
                ),
            )
        ],
    )


async def ensure_crash_detection(
    client: PrefectClient, settings: Settings, org: str | None = None, within_s: float | None = None
) -> uuid.UUID:
    """Make the crash-detection automation, or bring it up to date (once per process); its id."""
    automation = crash_detection(within_s or settings.crash_after_silence_s, org)
    key = (str(settings.prefect_api_url), automation.name)
    if key in _known:
        return _known[key]
    existing = await client.read_automations_by_name(automation.name)
    if existing:
        await client.update_automation(existing[0].id, automation)
        found = existing[0].id
    else:
        found = await client.create_automation(automation)
    _known[key] = found
    return found
