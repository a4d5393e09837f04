"""Warehouses of the tests: a Postgres warehouse's request body, and a DuckDB file read back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.secrets_registry import new_secret


def postgres_body(url: str, **changes: object) -> dict[str, object]:
    """The body of `PUT …/warehouse` for the local Postgres database at `url` (a new password each
    time, registered as a secret)."""
    database = url.rsplit("/", 1)[1]
    body: dict[str, object] = {
        "type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "database": database,
        "user": "postgres",
        "password": new_secret("pw"),
        "schema": "analytics",
    }
    body.update(changes)
    return body


@contextlib.contextmanager
def open_duckdb(path: str | Path, timeout_s: float = 30) -> Iterator[Any]:
    """The DuckDB file opened read-only, once the run that wrote it has let go of it (a run's
    process can hold the file's lock for a moment after the run is marked finished)."""
    import duckdb

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        yield connection
    finally:
        connection.close()
