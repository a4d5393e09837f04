"""An org's connection: which source, which of its streams, into which warehouse schema."""

from __future__ import annotations

from typing import ClassVar

from prefect.blocks.core import Block
from pydantic import Field

from dalgo.naming import CONNECTION_BLOCK_TYPE


class ConnectionBlock(Block):
    """A connection of one org: a source's streams synced into a schema of the org's warehouse."""

    _block_type_name: ClassVar[str] = "Dalgo Connection"
    _block_type_slug: ClassVar[str] = CONNECTION_BLOCK_TYPE
    _description: ClassVar[str] = (
        "A connection of a Dalgo organization (source streams into a warehouse schema)."
    )

    title: str = Field(description="The connection's name as the org calls it.")
    source_id: str = Field(description="The id of the org's source.")
    streams: list[str] | None = Field(default=None, description="The streams to sync; None for all.")
    destination_schema: str = Field(description="The warehouse schema the streams land in.")
