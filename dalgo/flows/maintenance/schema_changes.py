"""Schema-change detection: discover the streams of each connection's source with the embedded
engine, compare them with the schema recorded last time, record a change once and tell the org's
account managers once per change (in the app and by mail).

The first discovery of a connection records its baseline and tells no one. A change of which
streams the connection syncs is not a change of the source: it is recorded silently as the new
baseline. Two detectors that see the same change at once record it once (`(connection_id, seq)`
is unique). Connections are read from their blocks and discovered with the embedded engine's
connectors, whatever engine syncs them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import anyio
from prefect import flow, get_client, get_run_logger
from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dalgo.alerts.delivery import Message, add_notifications
from dalgo.alerts.recipients import SCHEMA_CHANGE_ROLES, org_members
from dalgo.alerts.schema_diff import SchemaDiff, Snapshot, describe, diff, fingerprint, is_empty, snapshot
from dalgo.blocks.connection import ConnectionBlock
from dalgo.blocks.source import SourceBlock
from dalgo.db.models import Org
from dalgo.db.notification_models import SchemaChange
from dalgo.flows.maintenance._common import api_database, orgs_to_visit, plural
from dalgo.flows.maintenance.connection_blocks import org_connection_blocks
from dalgo.flows.maintenance.notify import send_pending_mails
from dalgo.flows.results import record_result
from dalgo.settings import Settings, get_settings

SCHEMA_CHANGED_KIND = "schema_changed"


async def discover(org: str, connection: ConnectionBlock) -> list[dict[str, Any]]:
    """The streams the connection's source offers now (the connector runs on this worker)."""
    from dalgo.connectors.catalogue import connector
    from dalgo.connectors.install import default_connectors_dir
    from dalgo.connectors.source import discover_streams
    from dalgo.connectors.spec import merge_secrets
    from dalgo.flows.sources import org_folder
    from dalgo.naming import source_block_name

    source: SourceBlock = await SourceBlock.aload(source_block_name(org, connection.source_id))
    config = merge_secrets(source.config, source.secrets.get_secret_value())
    streams = await anyio.to_thread.run_sync(
        discover_streams, connector(source.definition), config, default_connectors_dir(), org_folder(org)
    )
    return [dict(s) for s in streams]


def change_message(
    settings: Settings, org: Org, connection_id: uuid.UUID, connection: ConnectionBlock, change: SchemaDiff
) -> Message:
    """The notification (and mail) about a change of a connection's source."""
    link = f"{settings.public_url.rstrip('/')}/orgs/{org.slug}/connections/{connection_id}"
    body = (
        f'The source of the connection "{connection.title}" of {org.name} changed:\n\n'
        + "\n".join(describe(change))
        + f"\n\nReview the connection (its streams and its next sync): {link}\n\n"
        f"You get this as an account manager of {org.name}; each change is told once.\n"
    )
    return Message(
        kind=SCHEMA_CHANGED_KIND,
        subject=f"[Dalgo] {org.name}: the source of {connection.title} changed",
        body=body,
        link=link,
        org_id=org.id,
    )


def record_schema(
    engine: Engine,
    settings: Settings,
    org: Org,
    connection_id: uuid.UUID,
    connection: ConnectionBlock,
    now: Snapshot,
) -> str:
    """Compare with the last recorded schema and record what is new: `baseline`, `unchanged`,
    `rebaselined`, `changed` or `raced` (another detector recorded it first)."""
    with Session(engine) as session:
        last = session.exec(
            select(SchemaChange)
            .where(SchemaChange.connection_id == connection_id)
            .order_by(col(SchemaChange.seq).desc())
        ).first()
        digest = fingerprint(now)
        if last is not None and last.fingerprint == digest:
            return "unchanged"
        change = diff(json.loads(last.snapshot), now, connection.streams) if last is not None else None
        outcome = (
            "baseline" if last is None else "rebaselined" if change is None or is_empty(change) else "changed"
        )
        session.add(
            SchemaChange(
                org_id=org.id,
                connection_id=connection_id,
                seq=(last.seq + 1) if last is not None else 1,
                fingerprint=digest,
                snapshot=json.dumps(now, sort_keys=True),
                changes=json.dumps(change, sort_keys=True) if outcome == "changed" else None,
            )
        )
        if change is not None and outcome == "changed":
            recipients = org_members(session, org.id, SCHEMA_CHANGE_ROLES, failure_mail=False)
            add_notifications(
                session, recipients, change_message(settings, org, connection_id, connection, change)
            )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return "raced"
    return outcome


def forget_deleted_connections(engine: Engine, org: Org, existing: set[uuid.UUID]) -> int:
    """Drop the recorded schemas of the org's connections that no longer exist."""
    with Session(engine) as session:
        known = set(
            session.exec(select(SchemaChange.connection_id).where(SchemaChange.org_id == org.id)).all()
        )
        gone = known - existing
        if gone:
            session.exec(delete(SchemaChange).where(col(SchemaChange.connection_id).in_(gone)))
            session.commit()
    return len(gone)


@flow(name="detect-schema-changes")
async def detect_schema_changes(only_orgs: list[str] | None = None) -> dict[str, Any]:
    """Discover every embedded connection's source, record schema changes once and tell the org's
    account managers once per change."""
    logger = get_run_logger()
    settings = get_settings()
    counts = {"connections": 0, "baseline": 0, "unchanged": 0, "rebaselined": 0, "changed": 0, "raced": 0}
    errors: list[str] = []
    with api_database(settings) as engine:
        async with get_client() as client:
            for org in orgs_to_visit(engine, only_orgs):
                connections = await org_connection_blocks(client, org.slug)
                forget_deleted_connections(engine, org, set(connections))
                for connection_id, connection in connections.items():
                    counts["connections"] += 1
                    try:
                        streams = await discover(org.slug, connection)
                    except Exception as error:  # noqa: BLE001 - a broken source must not stop the others
                        errors.append(f"{org.slug}/{connection_id}: {error}")
                        logger.warning("Could not discover %s of %s: %s", connection.title, org.slug, error)
                        continue
                    outcome = record_schema(
                        engine,
                        settings,
                        org,
                        connection_id,
                        connection,
                        snapshot(streams, connection.streams),
                    )
                    counts[outcome] += 1
                    if outcome == "changed":
                        logger.info("The source of %s (%s) changed", connection.title, org.slug)
        delivered = await send_pending_mails(engine, settings)
    logger.info(
        "Checked %s: %d changed, %d new baselines, %d unchanged, %d could not be discovered; sent %s",
        plural(counts["connections"], "connection"),
        counts["changed"],
        counts["baseline"],
        counts["unchanged"],
        len(errors),
        plural(delivered.sent, "mail"),
    )
    result: dict[str, Any] = {**counts, "errors": errors, "mails_sent": delivered.sent}
    await record_result(result)
    return result
