"""The body of an org's audit log: one entry per change made in the org or failed sign-in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEntryPublic(BaseModel):
    """One entry: who (`actor_email`, null for someone without an account), did what (`action`, the
    route's name such as `run_pipeline`, or `sign_in_failed`), to which object, when, and the
    outcome (`status_code`). `details` holds at most the names of the fields a request set, the id
    of a run it started, or why a sign-in failed."""

    id: uuid.UUID
    created_at: datetime
    actor_id: uuid.UUID | None
    actor_email: str | None
    action: str
    method: str | None
    path: str | None
    object_type: str | None
    object_id: str | None
    status_code: int
    request_id: str | None
    client_address: str | None
    details: dict[str, Any]
