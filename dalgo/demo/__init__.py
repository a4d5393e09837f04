"""`dalgo demo` (`make demo`): the whole product on one machine.

It starts the local stack (`dalgo.stack.LocalStack`), makes or finds a platform admin, the demo
org and its demo user, a DuckDB warehouse, a source-faker source and connection, the example dbt
project (`examples/dbt_project`) as the org's dbt workspace, and a daily pipeline (sync, dbt run,
dbt test) — all through the web API over HTTP, as any client would — runs the pipeline once, prints
what it produced and stops the stack (or keeps serving with `--serve`). Running it again reuses
what exists.
"""

from dalgo.demo.main import run_demo

__all__ = ["run_demo"]
