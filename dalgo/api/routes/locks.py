"""An org's locks: which connections or dbt workspace are in use, by which run, since when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from dalgo.api.deps import OrgContext, PrefectDep, require
from dalgo.api.schemas.locks import LockPublic
from dalgo.deployments.lock_holders import org_locks

router = APIRouter(prefix="/orgs/{org}/locks", tags=["locks"])


@router.get("", response_model=list[LockPublic])
async def list_locks(
    member: Annotated[OrgContext, require("can_view_locks")], client: PrefectDep
) -> list[LockPublic]:
    """The org's resources that are locked now, each with the run holding it (null in the short
    time after a run died and before its lease ran out)."""
    locks = await org_locks(client, member.org.slug)
    return [LockPublic.model_validate(lock, from_attributes=True) for lock in locks]
