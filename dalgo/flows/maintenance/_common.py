"""What the maintenance flows share: the API database, the orgs to work on, and their settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dalgo.db.engine import make_engine
from dalgo.db.models import Org
from dalgo.settings import Settings


@contextmanager
def api_database(settings: Settings) -> Iterator[Engine]:
    """An engine on the API database for the length of a flow run."""
    engine = make_engine(settings.resolved_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def orgs_to_visit(engine: Engine, only_orgs: list[str] | None) -> list[Org]:
    """Every org, or only those named (unknown slugs are left out), in slug order."""
    with Session(engine) as session:
        query = select(Org).order_by(col(Org.slug))
        if only_orgs is not None:
            query = query.where(col(Org.slug).in_(only_orgs))
        return list(session.exec(query).all())


def plural(count: int, noun: str) -> str:
    """`1 run`, `3 runs`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
