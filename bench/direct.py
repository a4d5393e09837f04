"""The direct side of the overhead scenario: the pipeline's work done by hand in one script, as a
data engineer without a platform would: PyAirbyte runs the installed connector into a Postgres
cache (the warehouse's raw schema), then the dbt CLI runs the project against the warehouse.

Run as `python -m bench.direct --rows N --warehouse URL --connector PATH --project DIR --work DIR`;
prints one JSON line: `{"records", "sync_s", "dbt_s", "total_s"}` (from the script's own start,
imports included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.monotonic()

PROFILE = """\
{profile}:
  target: bench
  outputs:
    bench:
      type: postgres
      host: "{host}"
      port: {port}
      user: "{user}"
      password: ""
      dbname: "{database}"
      schema: analytics
      threads: 4
"""


def sync(rows: int, warehouse: str, executable: Path, schema: str) -> int:
    """Read the faker source into the warehouse's schema through PyAirbyte; records read."""
    os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import airbyte
    from airbyte.caches import PostgresCache
    from sqlalchemy.engine import make_url

    url = make_url(warehouse)
    source = airbyte.get_source(
        "source-faker",
        config={"count": rows, "seed": 42, "parallelism": 1},
        streams=["users", "products", "purchases"],
        local_executable=executable,
    )
    cache = PostgresCache(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        database=url.database or "",
        username=url.username or "postgres",
        password=url.password or "",
        schema_name=schema,
    )
    result = source.read(cache=cache)
    return int(result.processed_records)


def dbt_run(warehouse: str, project: Path, work: Path) -> None:
    """`dbt run` of the project, its profile pointing at the warehouse."""
    from sqlalchemy.engine import make_url

    url = make_url(warehouse)
    profile_name = "dalgo_demo"
    for line in (project / "dbt_project.yml").read_text().splitlines():
        if line.startswith("profile:"):
            profile_name = line.split(":", 1)[1].strip().strip("'\"")
    profiles = work / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / "profiles.yml").write_text(
        PROFILE.format(
            profile=profile_name,
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            database=url.database or "",
        )
    )
    dbt = Path(sys.executable).parent / "dbt"
    command = [
        str(dbt),
        "run",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(profiles),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"dbt run failed:\n{done.stdout[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--warehouse", required=True, help="postgresql:// URL of the warehouse database")
    parser.add_argument("--connector", type=Path, required=True, help="the installed source-faker")
    parser.add_argument("--project", type=Path, required=True, help="the dbt project folder")
    parser.add_argument("--work", type=Path, required=True, help="a folder for dbt's target and logs")
    parser.add_argument("--schema", default="raw")
    args = parser.parse_args(argv)
    records = sync(args.rows, args.warehouse, args.connector, args.schema)
    synced = time.monotonic()
    dbt_run(args.warehouse, args.project, args.work)
    done = time.monotonic()
    figures: dict[str, Any] = {
        "records": records,
        "sync_s": round(synced - STARTED, 3),
        "dbt_s": round(done - synced, 3),
        "total_s": round(done - STARTED, 3),
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
