"""The platform's own deployments (maintenance), declared in prefect.yaml and applied to Prefect.

prefect.yaml stays the one place the schedules are written, and `prefect deploy --all` can still
read it; `dalgo deploy` and `dalgo serve` apply it through the Prefect client instead, because that
needs no network, no prompts and no build or push steps, and takes a second: each deployment is
upserted by name on the configured work pool (DALGO_WORK_POOL, whatever the file says) and its
work queue, its schedules replaced only when they differ (so a restart does not reschedule
anything), and platform deployments no longer in the file are removed. Entrypoints are stored as
module paths (`dalgo.flows.maintenance.notify.notify_failures`), so a worker runs them from any
working directory.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate, DeploymentUpdate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.exceptions import ObjectNotFound
from prefect.flows import Flow

from dalgo.deployments.client import prefect_client
from dalgo.deployments.crashes import ensure_crash_detection
from dalgo.deployments.work_pools import ensure_work_pool
from dalgo.naming import PLATFORM_TAG
from dalgo.settings import Settings

PREFECT_YAML = Path(__file__).resolve().parents[2] / "prefect.yaml"
INTERVAL_ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)

Schedule = CronSchedule | IntervalSchedule


class PlatformDeploymentError(ValueError):
    """prefect.yaml says something that cannot be deployed; the message says what and where."""


@dataclass(frozen=True)
class PlatformDeployment:
    """One deployment of prefect.yaml."""

    name: str
    entrypoint: str
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[Schedule] = field(default_factory=list)
    work_queue: str = "default"
    concurrency_limit: int | None = None

    @property
    def module_entrypoint(self) -> str:
        """`dalgo/flows/x.py:fn` as the module path `dalgo.flows.x.fn`."""
        path, _, function = self.entrypoint.partition(":")
        return path.removesuffix(".py").replace("/", ".") + "." + function

    def load_flow(self) -> Flow[Any, Any]:
        module, _, attribute = self.module_entrypoint.rpartition(".")
        found = getattr(importlib.import_module(module), attribute, None)
        if not isinstance(found, Flow):
            raise PlatformDeploymentError(f"{self.entrypoint} (deployment {self.name}) is not a flow.")
        return found


def _schedule(raw: dict[str, Any], where: str) -> Schedule:
    if "cron" in raw:
        return CronSchedule(cron=str(raw["cron"]), timezone=str(raw.get("timezone") or "UTC"))
    if "interval" in raw:
        return IntervalSchedule(
            interval=timedelta(seconds=float(raw["interval"])), anchor_date=INTERVAL_ANCHOR
        )
    raise PlatformDeploymentError(f"{where}: a schedule needs `cron` or `interval` (seconds).")


def read_prefect_yaml(path: Path = PREFECT_YAML) -> list[PlatformDeployment]:
    """The deployments prefect.yaml declares."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise PlatformDeploymentError(f"{path} could not be read: {error}") from error
    found: list[PlatformDeployment] = []
    for index, raw in enumerate(document.get("deployments") or []):
        where = f"{path.name}, deployment {raw.get('name') or index + 1}"
        if not raw.get("name") or ":" not in str(raw.get("entrypoint") or ""):
            raise PlatformDeploymentError(f"{where}: needs a name and an entrypoint `path.py:flow`.")
        found.append(
            PlatformDeployment(
                name=str(raw["name"]),
                entrypoint=str(raw["entrypoint"]),
                description=raw.get("description"),
                tags=[str(t) for t in raw.get("tags") or []],
                parameters=dict(raw.get("parameters") or {}),
                schedules=[_schedule(s, where) for s in raw.get("schedules") or []],
                work_queue=str((raw.get("work_pool") or {}).get("work_queue_name") or "default"),
                concurrency_limit=raw.get("concurrency_limit"),
            )
        )
    return found


def _key(schedule: Any) -> tuple[Any, ...]:
    if isinstance(schedule, CronSchedule):
        return ("cron", schedule.cron, schedule.timezone or "UTC")
    if isinstance(schedule, IntervalSchedule):
        return ("interval", schedule.interval.total_seconds())
    return ("other", repr(schedule))


async def _apply_one(client: PrefectClient, settings: Settings, spec: PlatformDeployment) -> uuid.UUID:
    """Create the deployment, or update it in place (its schedules replaced only if they differ)."""
    flow = spec.load_flow()
    fields: dict[str, Any] = {
        "entrypoint": spec.module_entrypoint,
        "work_pool_name": settings.work_pool,
        "work_queue_name": spec.work_queue,
        "tags": spec.tags if PLATFORM_TAG in spec.tags else [PLATFORM_TAG, *spec.tags],
        "description": spec.description,
        "parameters": spec.parameters,
        "parameter_openapi_schema": flow.parameters.model_dump_for_openapi(),
        "concurrency_limit": spec.concurrency_limit,
        "concurrency_options": (
            ConcurrencyOptions(collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
            if spec.concurrency_limit
            else None
        ),
        "pull_steps": [],
        "enforce_parameter_schema": True,
    }
    schedules = [DeploymentScheduleCreate(schedule=s, active=True) for s in spec.schedules]
    try:
        existing = await client.read_deployment_by_name(f"{flow.name}/{spec.name}")
    except ObjectNotFound:
        flow_id = await client.create_flow_from_name(flow.name)
        return await client.create_deployment(flow_id=flow_id, name=spec.name, schedules=schedules, **fields)
    await client.update_deployment(existing.id, DeploymentUpdate(**fields))
    current = await client.read_deployment_schedules(existing.id)
    if sorted(_key(s.schedule) for s in current) != sorted(_key(s) for s in spec.schedules):
        for old in current:
            await client.delete_deployment_schedule(existing.id, old.id)
        if schedules:
            await client.create_deployment_schedules(existing.id, schedules)
    return existing.id


async def apply_platform_deployments(
    client: PrefectClient, settings: Settings, specs: list[PlatformDeployment]
) -> dict[str, uuid.UUID]:
    """Create or update each deployment (idempotent), and remove platform deployments that are no
    longer declared; their ids by name."""
    await ensure_work_pool(client, settings)
    applied = {spec.name: await _apply_one(client, settings, spec) for spec in specs}
    platform = await client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[PLATFORM_TAG])), limit=200
    )
    for deployment in platform:
        if deployment.name not in applied and deployment.work_pool_name == settings.work_pool:
            await client.delete_deployment(deployment.id)
    return applied


async def deploy(settings: Settings, path: Path = PREFECT_YAML) -> dict[str, uuid.UUID]:
    """Apply prefect.yaml's deployments to the Prefect server of the settings."""
    specs = read_prefect_yaml(path)
    async with prefect_client(settings) as client:
        applied = await apply_platform_deployments(client, settings, specs)
        await ensure_crash_detection(client, settings)
        return applied


def deploy_at_start(settings: Settings, api_url: str) -> str:
    """Apply the platform deployments when the stack starts; a line saying what happened (a
    failure is reported, not raised: the stack still serves everything else)."""
    try:
        applied = asyncio.run(deploy(settings.model_copy(update={"prefect_api_url": api_url})))
    except Exception as error:  # noqa: BLE001 - the stack reports it and goes on
        return f"The maintenance deployments could not be applied: {error}"
    return (
        f"Applied {len(applied)} maintenance deployments from prefect.yaml (work queue 'platform') "
        "and the automation that marks silent runs crashed."
    )
