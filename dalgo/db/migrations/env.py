"""Alembic environment: migrates through the engine the platform hands over in the config."""

from alembic import context
from sqlalchemy import Engine
from sqlmodel import SQLModel

import dalgo.db.models
import dalgo.db.notification_models  # noqa: F401  (both register their tables on SQLModel.metadata)

engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
