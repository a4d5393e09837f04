"""The local PostgreSQL the suite runs against, and the fresh databases a session makes on it."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

import psycopg2

PG_URL = os.environ.get("DALGO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def admin_execute(sql: str) -> None:
    """Run one statement on the server's `postgres` database, outside a transaction."""
    connection = psycopg2.connect(PG_URL)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@dataclass
class DatabaseMaker:
    """Makes fresh Postgres databases for the session and remembers their URLs."""

    urls: list[str] = field(default_factory=list)

    def __call__(self, purpose: str) -> str:
        name = f"dalgo_test_{purpose}_{uuid.uuid4().hex[:10]}"
        admin_execute(f'CREATE DATABASE "{name}"')
        url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
        self.urls.append(url)
        return url
