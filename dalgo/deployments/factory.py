"""Creates, updates and deletes an org's deployments, with the blocks they use.

`apply_org_deployment` is idempotent (the same spec twice leaves one deployment, updated) and
all-or-nothing: when a step fails after others succeeded, what it made is removed again and what
it changed is put back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prefect.blocks.core import Block
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectNotFound

from dalgo.deployments.client import PrefectUnavailableError
from dalgo.deployments.work_pools import ensure_work_pool
from dalgo.naming import kind_tag, org_object_name, org_tag
from dalgo.prefect_objects import delete_org_block
from dalgo.settings import Settings

log = logging.getLogger(__name__)


class DeploymentFactoryError(RuntimeError):
    """An org deployment could not be applied; everything the attempt made was undone. (When
    Prefect stopped answering, the attempt is undone as far as it can be and
    `PrefectUnavailableError` is raised instead, which the API answers with 503.)"""


@dataclass(frozen=True)
class Schedule:
    """A cron expression in an IANA time zone."""

    cron: str
    timezone: str = "UTC"


@dataclass
class OrgDeploymentSpec:
    """What an org's deployment should be: its flow, parameters, schedule and the blocks it reads."""

    org: str
    kind: str
    name: str
    flow_name: str
    entrypoint: str
    parameters: dict[str, Any] = field(default_factory=dict)
    schedule: Schedule | None = None
    paused: bool = False
    description: str | None = None
    extra_tags: tuple[str, ...] = ()
    blocks: dict[str, Block] = field(default_factory=dict)
    """Blocks to save with the deployment, by name suffix (saved as `<org>-<suffix>`)."""
    work_pool: str | None = None
    """The work pool its runs go to (None: the platform's, DALGO_WORK_POOL)."""
    work_queue: str | None = None
    """The queue in that pool (None: the pool's default queue)."""

    @property
    def deployment_name(self) -> str:
        return org_object_name(self.org, self.name)

    @property
    def tags(self) -> list[str]:
        return [org_tag(self.org), kind_tag(self.kind), *self.extra_tags]


UndoStep = Callable[[], Awaitable[None]]


async def _undo(steps: list[UndoStep]) -> None:
    for step in reversed(steps):
        try:
            await step()
        except Exception:
            log.exception("could not undo a step of a failed deployment change")


async def _save_block(client: PrefectClient, name: str, block: Block, undo: list[UndoStep]) -> None:
    previous: Block | None
    try:
        previous = await type(block).aload(name, client=client)
    except ValueError:
        previous = None
    await block.asave(name, overwrite=True, client=client)
    if previous is None:

        async def remove() -> None:
            await type(block).adelete(name, client=client)

        undo.append(remove)
    else:
        kept = previous

        async def restore() -> None:
            await kept.asave(name, overwrite=True, client=client)

        undo.append(restore)


async def find_org_deployment(client: PrefectClient, org: str, name: str) -> DeploymentResponse | None:
    """The org's deployment with this name (without the slug), or None."""
    for deployment in await client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[org_tag(org)]))
    ):
        if deployment.name == org_object_name(org, name):
            return deployment
    return None


async def apply_org_deployment(
    client: PrefectClient, settings: Settings, spec: OrgDeploymentSpec
) -> uuid.UUID:
    """Create or update the deployment and its blocks; on failure undo and raise DeploymentFactoryError."""
    undo: list[UndoStep] = []
    try:
        for suffix, block in spec.blocks.items():
            await _save_block(client, org_object_name(spec.org, suffix), block, undo)
        pool = spec.work_pool or settings.work_pool
        await ensure_work_pool(client, settings.model_copy(update={"work_pool": pool}))
        existing = await find_org_deployment(client, spec.org, spec.name)
        flow_id = await client.create_flow_from_name(spec.flow_name)
        schedules = (
            [
                DeploymentScheduleCreate(
                    schedule=CronSchedule(cron=spec.schedule.cron, timezone=spec.schedule.timezone),
                    active=True,
                )
            ]
            if spec.schedule
            else []
        )
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name=spec.deployment_name,
            entrypoint=spec.entrypoint,
            work_pool_name=pool,
            work_queue_name=spec.work_queue,
            tags=spec.tags,
            parameters=spec.parameters,
            description=spec.description,
            paused=spec.paused,
            pull_steps=[],
            enforce_parameter_schema=False,
        )
        if existing is None:

            async def remove_deployment() -> None:
                await client.delete_deployment(deployment_id)

            undo.append(remove_deployment)
        for old in await client.read_deployment_schedules(deployment_id):
            await client.delete_deployment_schedule(deployment_id, old.id)
        if schedules:
            await client.create_deployment_schedules(
                deployment_id, [(s.schedule, bool(s.active)) for s in schedules]
            )
    except PrefectUnavailableError:
        await _undo(undo)
        raise
    except Exception as exc:
        await _undo(undo)
        raise DeploymentFactoryError(
            f"The deployment {spec.deployment_name} could not be applied: {exc}"
        ) from exc
    return deployment_id


async def delete_org_deployment(
    client: PrefectClient, org: str, name: str, block_suffixes: tuple[str, ...] = ()
) -> bool:
    """Delete the org's deployment and the named blocks; False when there was nothing to delete."""
    deleted = False
    deployment = await find_org_deployment(client, org, name)
    if deployment is not None:
        try:
            await client.delete_deployment(deployment.id)
            deleted = True
        except ObjectNotFound:
            pass
    for suffix in block_suffixes:
        deleted = await delete_org_block(client, org, suffix) or deleted
    return deleted
