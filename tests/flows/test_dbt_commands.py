"""The dbt command list has one home, `dalgo.flows.dbt_commands.COMMANDS`; the API's request schema
spells it as a Literal for the OpenAPI document, and must offer exactly those commands."""

from __future__ import annotations

from typing import get_args

from dalgo.api.schemas.dbt import DbtCommand
from dalgo.flows.dbt_commands import COMMANDS


def test_the_api_offers_exactly_the_commands_the_workspace_runs() -> None:
    assert get_args(DbtCommand) == COMMANDS
