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


DATABASE_TIMEOUT_S = 5
"""How long a connection to the API database may take to open, in whole seconds (libpq's unit)."""

_LIBPQ_DRIVERS = frozenset({"psycopg2", "psycopg"})


def _postgres_connect_args(driver: str, timeout_s: int) -> dict[str, int]:
    """libpq's bounds on waiting for Postgres: opening a connection takes at most `timeout_s`,
    and a connection whose sent data or keepalives go unacknowledged (a lost network, a host gone)
    is closed after twice that, instead of TCP's quarter of an hour."""
    if driver not in _LIBPQ_DRIVERS:
        return {}
    return {
        "connect_timeout": max(2, timeout_s),
        "tcp_user_timeout": max(2, timeout_s) * 2000,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }


def make_engine(url: str, timeout_s: int = DATABASE_TIMEOUT_S) -> Engine:
    """An engine for the API database; SQLite gets foreign keys on and its folder made. On
    Postgres, connections are tested before use (`pool_pre_ping`), so that after the database
    restarts the first request works on a fresh connection, and waits on the network are bounded
    (`_postgres_connect_args`): with the database down, a request fails within seconds."""
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
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args=_postgres_connect_args(parsed.get_driver_name(), timeout_s),
    )


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
