"""The options of a dbt workspace's command (`select`, `exclude`, `full_refresh`): which commands
take them, what a selector may contain, and the dbt command line they make."""

from __future__ import annotations

from typing import Final

from dalgo.flows.dbt_commands import COMMANDS

SELECTABLE: Final = ("run", "test", "seed", "build", "docs-generate")
FULL_REFRESHABLE: Final = ("run", "seed", "build")
MAX_SELECTOR_LENGTH = 1000
_SELECTOR_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:+*@/=-")


def selector_problem(value: str) -> str | None:
    """What is wrong with a `select` or `exclude` value (dbt's node selection syntax), or None."""
    if len(value) > MAX_SELECTOR_LENGTH:
        return f"A selector can be at most {MAX_SELECTOR_LENGTH} characters long."
    words = value.split()
    if not words:
        return "A selector cannot be empty."
    for word in words:
        if word.startswith("-") or not set(word) <= _SELECTOR_CHARACTERS:
            return (
                f"{word!r} is not a dbt selector: use model names, tags, paths and the characters "
                "+ * @ : , . / = (space separated)."
            )
    return None


def operation_problem(
    command: str, select: str | None, exclude: str | None, full_refresh: bool
) -> str | None:
    """Why the command cannot run with these options, as a sentence, or None."""
    if command not in COMMANDS:
        return f"Unknown command {command!r}: use one of {', '.join(COMMANDS)}."
    for name, value in (("select", select), ("exclude", exclude)):
        if value is None:
            continue
        if command not in SELECTABLE:
            return f"{name} applies only to {', '.join(SELECTABLE)}."
        problem = selector_problem(value)
        if problem:
            return problem
    if full_refresh and command not in FULL_REFRESHABLE:
        return f"full_refresh applies only to {', '.join(FULL_REFRESHABLE)}."
    return None


def dbt_args(command: str, select: str | None, exclude: str | None, full_refresh: bool) -> list[str]:
    """The dbt command line (without the folders) for a dbt command of the workspace."""
    args = ["docs", "generate", "--static"] if command == "docs-generate" else [command]
    if select:
        args += ["--select", *select.split()]
    if exclude:
        args += ["--exclude", *exclude.split()]
    if full_refresh:
        args.append("--full-refresh")
    return args
