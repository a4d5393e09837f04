"""A connection's source schema as the platform records it, and what changed between two of them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, TypedDict


class Snapshot(TypedDict):
    """The streams a source offers, and the columns of those the connection syncs."""

    offered: list[str]
    columns: dict[str, list[str]]


class StreamChange(TypedDict):
    added: list[str]
    removed: list[str]


class SchemaDiff(TypedDict):
    """What changed: streams newly offered, synced streams no longer offered, columns per stream."""

    new_streams: list[str]
    missing_streams: list[str]
    columns: dict[str, StreamChange]


def snapshot(streams: Iterable[dict[str, Any]], synced: list[str] | None) -> Snapshot:
    """The snapshot of discovered streams (`name`, `properties`) for a connection syncing `synced`
    (None: every stream)."""
    by_name = {str(s["name"]): sorted(str(p) for p in s.get("properties") or []) for s in streams}
    wanted = set(by_name) if synced is None else set(synced)
    return Snapshot(
        offered=sorted(by_name), columns={name: by_name[name] for name in sorted(wanted) if name in by_name}
    )


def missing_synced(snap: Snapshot, synced: list[str] | None) -> list[str]:
    """Streams the connection syncs that the source no longer offers."""
    return sorted(set(synced or []) - set(snap["offered"]))


def fingerprint(snap: Snapshot) -> str:
    """A digest of the snapshot, the same for the same schema."""
    return hashlib.sha256(json.dumps(snap, sort_keys=True).encode()).hexdigest()


def diff(before: Snapshot, after: Snapshot, synced: list[str] | None) -> SchemaDiff:
    """What changed from `before` to `after` that matters to a connection syncing `synced`.

    A stream the connection starts or stops syncing is not a change of the source; only streams
    whose columns were known before are compared."""
    columns: dict[str, StreamChange] = {}
    for name, now in after["columns"].items():
        was = before["columns"].get(name)
        if was is None:
            continue
        added, removed = sorted(set(now) - set(was)), sorted(set(was) - set(now))
        if added or removed:
            columns[name] = StreamChange(added=added, removed=removed)
    offered_before = set(before["offered"])
    return SchemaDiff(
        new_streams=sorted(set(after["offered"]) - offered_before),
        missing_streams=[s for s in missing_synced(after, synced) if s in offered_before],
        columns=columns,
    )


def is_empty(change: SchemaDiff) -> bool:
    return not (change["new_streams"] or change["missing_streams"] or change["columns"])


def describe(change: SchemaDiff) -> list[str]:
    """The change as lines a person reads."""
    lines: list[str] = []
    for name, stream in change["columns"].items():
        parts = []
        if stream["added"]:
            parts.append("new columns " + ", ".join(stream["added"]))
        if stream["removed"]:
            parts.append("columns gone: " + ", ".join(stream["removed"]))
        lines.append(f"- stream {name}: " + "; ".join(parts))
    if change["missing_streams"]:
        lines.append(
            "- streams this connection syncs that the source no longer offers: "
            + ", ".join(change["missing_streams"])
        )
    if change["new_streams"]:
        lines.append("- streams the source offers now: " + ", ".join(change["new_streams"]))
    return lines
