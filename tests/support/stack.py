"""A flow run that sleeps on the local stack's work pool, for tests that stop or kill `dalgo serve`
while a run is going."""

from __future__ import annotations

RUN_TIMEOUT_S = 180
"""How long START_RUN waits for the sleeper's run to be running."""

SLEEPER_FLOW = """
import time

from prefect import flow


@flow
def sleeper(seconds: int = 600) -> None:
    time.sleep(seconds)
"""

START_RUN = """
import sys, time

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

if __name__ == "__main__":
    source, pool, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sleeper = flow.from_source(source=source, entrypoint="sleeper.py:sleeper")
    sleeper.deploy(name="sleep", work_pool_name=pool, build=False, push=False, print_next_steps=False)
    run = run_deployment("sleeper/sleep", timeout=0)
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while not client.read_flow_run(run.id).state.is_running():
            if time.monotonic() > deadline:
                sys.exit(f"flow run {run.id} not running after {timeout} s")
            time.sleep(0.5)
    print(run.id)
"""
