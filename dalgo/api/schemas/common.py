"""What several routers share: a page of a collection, a started run, a run in brief, a password's rule."""

from __future__ import annotations

import uuid
from typing import Generic, TypeVar

from pydantic import BaseModel

from dalgo.api.security import MIN_PASSWORD_LENGTH
from dalgo.deployments.runs import RunBrief as RunBrief

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a growing collection, with the total number of items."""

    data: list[T]
    count: int


class Password(BaseModel):
    @staticmethod
    def check(value: str) -> str:
        if len(value) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
        return value


class FlowRunStarted(BaseModel):
    """A long operation was started as a flow run; poll it under /runs/{flow_run_id}."""

    flow_run_id: uuid.UUID
