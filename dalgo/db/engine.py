"""The API database's engine and sessions, migrations at start, and the seeded role data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, create_engine, delete, select

from dalgo.db.models import Permission, Role, RolePermission
from dalgo.db.roles import role_matrix

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for the API database; SQLite gets foreign keys on and its folder made."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _enable_foreign_keys(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that migrates through the given engine."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration, then seed roles and permissions."""
    command.upgrade(alembic_config(engine), "head")
    seed_roles(engine)


def seed_roles(engine: Engine) -> None:
    """Make the role, permission and role_permission tables say exactly what roles.toml says."""
    matrix = role_matrix()
    with Session(engine) as session:
        existing_perms = {p.slug: p for p in session.exec(select(Permission)).all()}
        for slug, description in matrix.permissions.items():
            perm = existing_perms.get(slug) or Permission(slug=slug, description=description)
            perm.description = description
            session.add(perm)
        existing_roles = {r.slug: r for r in session.exec(select(Role)).all()}
        for spec in matrix.roles:
            role = existing_roles.get(spec.slug) or Role(slug=spec.slug, name=spec.name, level=spec.level)
            role.name, role.level = spec.name, spec.level
            session.add(role)
        session.flush()
        session.exec(delete(RolePermission))
        for spec in matrix.roles:
            for perm_slug in sorted(spec.permissions):
                session.add(RolePermission(role_slug=spec.slug, permission_slug=perm_slug))
        stale = set(existing_perms) - matrix.permissions.keys()
        if stale:
            session.exec(delete(Permission).where(col(Permission.slug).in_(stale)))
        session.commit()


def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield one session for the length of a request."""
    with Session(engine) as session:
        yield session
