"""The migrations build exactly the tables the models describe, on Postgres and on SQLite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from dalgo.db.engine import make_engine, migrate


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_migrations_match_the_models(
    backend: str, make_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_database("migrations") if backend == "postgres" else f"sqlite:///{tmp_path / 'api.db'}"
    engine = make_engine(url)
    migrate(engine)
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    assert "alembic_version" in inspect(engine).get_table_names()
    engine.dispose()
