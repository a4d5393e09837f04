"""Fixtures for the maintenance flows, which run in-process here (against the session's real
Prefect server, API database and SMTP server) rather than through the worker, to keep them fast.

A flow reads the platform's settings from the environment, as it does on a worker; the fixture
sets that environment from the session's settings for the length of this package's tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

from dalgo.settings import Settings, get_settings


@pytest.fixture(scope="package")
def flow_settings(settings: Settings, client: TestClient) -> Iterator[Settings]:
    """The settings the in-process flows see: the session's (the API database is migrated)."""
    patch = pytest.MonkeyPatch()
    values = {
        "DALGO_HOME": str(settings.resolved_home),
        "DALGO_DATABASE_URL": str(settings.database_url),
        "DALGO_SMTP_URL": str(settings.smtp_url),
        "DALGO_PUBLIC_URL": settings.public_url,
        "DALGO_WORK_POOL": settings.work_pool,
        "DALGO_ALLOW_PRIVATE_NETWORKS": str(settings.allow_private_networks).lower(),
    }
    for name, value in values.items():
        patch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)
    patch.undo()
    get_settings.cache_clear()
