"""The dbt workspace's commands: what a pipeline needs to know about dbt commands before any of them
runs, in a module that imports nothing heavy (the flow-run process of a pipeline loads it before it
is Running)."""

from __future__ import annotations

from typing import Final

COMMANDS: Final = ("git-pull", "deps", "clean", "run", "test", "seed", "build", "docs-generate")
