"""A run's result, kept in Prefect as an artifact of the run so the API can read it back.

Prefect's own result persistence writes to storage the API process may not share (a worker's
disk); an artifact lives in the Prefect database with the run, wherever the run ran.
"""

from __future__ import annotations

from typing import Any

from prefect.artifacts import Artifact

RESULT_ARTIFACT_TYPE = "dalgo-result"


async def record_result(data: dict[str, Any], description: str = "The result of this run.") -> None:
    """Attach `data` (JSON-able) to the current flow run as its result."""
    await Artifact(type=RESULT_ARTIFACT_TYPE, data=data, description=description).acreate()
