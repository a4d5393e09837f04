"""Bodies of the caller's notification and preference routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class NotificationPublic(BaseModel):
    """An in-app notification: an alert about a failed run, a long run or a schema change."""

    id: uuid.UUID
    kind: str = Field(description="run_failed, long_run or schema_changed.")
    org: str | None = Field(description="The slug of the org it is about, if any.")
    subject: str
    body: str
    link: str | None
    flow_run_id: uuid.UUID | None
    created_at: datetime
    read_at: datetime | None
    mailed: bool = Field(description="Whether it was also sent by mail.")


class PreferencesPublic(BaseModel):
    """The caller's mail preferences."""

    failure_mails: bool = Field(description="Mail me when a run of my orgs fails (in-app alerts stay).")


class PreferencesUpdate(BaseModel):
    """A change of the caller's mail preferences."""

    failure_mails: bool
