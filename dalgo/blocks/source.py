"""An org's data source: which connector, its configuration, and its secrets kept apart."""

from __future__ import annotations

from typing import Any, ClassVar

from prefect.blocks.core import Block
from prefect.types import SecretDict
from pydantic import Field

from dalgo.naming import SOURCE_BLOCK_TYPE


class SourceBlock(Block):
    """A source of one org: an Airbyte connector and its configuration.

    Values the connector's spec marks `airbyte_secret` live in `secrets` (encrypted by Prefect,
    keyed by their dotted path in the configuration), never in `config`.
    """

    _block_type_name: ClassVar[str] = "Dalgo Source"
    _block_type_slug: ClassVar[str] = SOURCE_BLOCK_TYPE
    _description: ClassVar[str] = "A data source of a Dalgo organization (connector and configuration)."

    title: str = Field(description="The source's name as the org calls it.")
    definition: str = Field(description="The connector, e.g. source-faker.")
    config: dict[str, Any] = Field(default_factory=dict, description="The configuration without secrets.")
    secrets: SecretDict = Field(
        default_factory=lambda: SecretDict({}), description="Secret values by their dotted path."
    )
