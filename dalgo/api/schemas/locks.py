"""The body of an org's lock list: a locked resource and the run holding it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class LockPublic(BaseModel):
    resource: str
    holder_run_id: uuid.UUID | None
    since: datetime | None
