"""The body of the health route."""

from __future__ import annotations

from pydantic import BaseModel


class HealthPublic(BaseModel):
    api: str
    database: str
    prefect: str
