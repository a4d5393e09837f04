"""What importing the sync's modules costs a flow-run process: PyAirbyte (with pandas) and the
airbyte-api SDK each take seconds and tens of megabytes to import, so they are imported by the
sync that needs them, never when a flow module is loaded."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("airbyte", "airbyte_api", "airbyte_cdk", "pandas")
FLOW_MODULES = (
    "dalgo.flows.ingest",
    "dalgo.flows.ingest_server",
    "dalgo.flows.pipeline",
    "dalgo.ingestion.airbyte_server",
    "dalgo.ingestion.workspace",
)


def test_loading_the_sync_and_pipeline_flows_imports_neither_pyairbyte_nor_pandas_nor_the_sdk() -> None:
    script = (
        "import json, sys\n"
        + "".join(f"import {module}\n" for module in FLOW_MODULES)
        + f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
