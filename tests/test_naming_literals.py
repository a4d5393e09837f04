"""Every Prefect tag, lock, deployment, block and state name of ours is built in `dalgo/naming.py`.

The test reads every module under dalgo/ (with `ast`, so docstrings and comments may mention the
names) and fails on a string literal that spells one elsewhere: a literal starting with a tag or lock
prefix, an f-string starting with a name pattern followed by an id, one of our state or block type
names, or a literal passed to `org_object_name`/`org_object_prefix`. Each failure says where it is
and what to use instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dalgo

PACKAGE = Path(dalgo.__file__).parent
HOME = PACKAGE / "naming.py"

TAG_PREFIXES = {
    "org:": "org_tag / ORG_TAG_PREFIX",
    "kind:": "kind_tag / KIND_TAG_PREFIX",
    "triggered-by:": "triggered_by_tag / TRIGGERED_BY_TAG_PREFIX",
    "deleting-org:": "org_deletion_tag",
    "pipeline:": "pipeline_tag / PIPELINE_TAG_PREFIX",
    "pipeline-run:": "pipeline_run_tag / PIPELINE_RUN_TAG_PREFIX",
    "connection:": "connection_tag / CONNECTION_TAG_PREFIX",
    "lock:": "lock_name, connection_lock, dbt_workspace_lock, org_lock_prefix / LOCK_PREFIX",
    "tag:": "org_limit_name / TAG_LIMIT_PREFIX",
    "dalgo:": "PLATFORM_TAG, OPERATIONS_TAG",
}
"""A literal (plain or f-string) starting with one of these spells a tag or a limit's name."""

NAME_PATTERNS = {
    "sync-": "sync_deployment_suffix, sync_deployment_name, sync_step_label",
    "pipeline-": "pipeline_deployment_suffix",
    "connection-": "connection_block_suffix, connection_block_name",
    "source-": "source_block_name",
    "step": "step_run_name",
}
"""An f-string starting with one of these, then a value, builds the name of an org's object."""

NAMES = {
    "CompletedWithWarnings": "COMPLETED_WITH_WARNINGS",
    "WaitingForLock": "WAITING_FOR_LOCK",
    "AwaitingConcurrencySlot": "AWAITING_SLOT",
    "sync-connection": "SYNC_FLOW_NAME",
    "check-warehouse": "CHECK_WAREHOUSE_FLOW_NAME",
    "check-source": "CHECK_SOURCE_FLOW_NAME",
    "discover-source": "DISCOVER_SOURCE_FLOW_NAME",
    "dbt-operation": "DBT_OPERATION_FLOW_NAME",
    "delete-org": "DELETE_ORG_FLOW_NAME",
    "dbt-workspace": "WORKSPACE_RESOURCE, workspace_block_name, dbt_workspace_lock",
    "dalgo-warehouse": "WAREHOUSE_BLOCK_TYPE",
    "dalgo-source": "SOURCE_BLOCK_TYPE",
    "dalgo-connection": "CONNECTION_BLOCK_TYPE",
    "dalgo-dbt-workspace": "DBT_WORKSPACE_BLOCK_TYPE",
    "dalgo-ingestion-engine": "INGESTION_ENGINE_BLOCK_TYPE",
    "dalgo-airbyte-server": "AIRBYTE_SERVER_BLOCK_TYPE",
    "dalgo-platform-airbyte-server": "AIRBYTE_SERVER_BLOCK_NAME",
}
"""Literals that are, whole, one of our Prefect names."""

NAME_BUILDERS = ("org_object_name", "org_object_prefix")

ALLOWED = {
    ("ingestion/server_objects.py", "dalgo-warehouse"): "the destination's name on an Airbyte server",
}
"""(module under dalgo/, literal): why the literal there is not a Prefect name."""


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes and of the string statements documenting attributes."""
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for statement in body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    found.add(id(statement.value))
    return found


def _leading_text(node: ast.JoinedStr) -> tuple[str, bool]:
    """The constant text an f-string starts with, and whether a value follows it."""
    text = ""
    for part in node.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            text += part.value
        else:
            return text, True
    return text, False


def _problems_in_literal(node: ast.expr, skip: set[int]) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
        text, followed = node.value, False
    elif isinstance(node, ast.JoinedStr):
        text, followed = _leading_text(node)
    else:
        return []
    problems = [
        f"{text!r} spells a tag or limit name: use {use}"
        for p, use in TAG_PREFIXES.items()
        if text.startswith(p)
    ]
    if followed:
        problems += [
            f"f-string {text!r}... builds an object's name: use {use}"
            for p, use in NAME_PATTERNS.items()
            if text == p
        ]
    if text in NAMES and not followed:
        problems.append(f"{text!r} is one of our Prefect names: use dalgo.naming.{NAMES[text]}")
    return problems


def _name_builder_problems(node: ast.Call) -> list[str]:
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    if name not in NAME_BUILDERS:
        return []
    literal = [a for a in node.args[1:] if isinstance(a, ast.JoinedStr | ast.Constant)]
    return [
        f"{name}() is given the literal {ast.unparse(a)}: use a function of dalgo/naming.py that builds "
        "this name (add one there)"
        for a in literal
    ]


def literal_problems(path: Path) -> list[str]:
    """Each literal in the module that spells a Prefect name of ours, as `file:line: what to use`."""
    source = path.read_text()
    tree = ast.parse(source)
    skip = _docstrings(tree) | {
        id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values
    }
    relative = path.relative_to(PACKAGE).as_posix()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            problems = _name_builder_problems(node)
        elif isinstance(node, ast.expr):
            if isinstance(node, ast.Constant) and (relative, node.value) in ALLOWED:
                continue
            problems = _problems_in_literal(node, skip)
        else:
            continue
        found += [f"dalgo/{relative}:{node.lineno}: {p}" for p in problems]
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != HOME)


def test_prefect_names_are_spelled_only_in_naming() -> None:
    problems = [p for path in _modules() for p in literal_problems(path)]
    assert not problems, "Prefect names spelled outside dalgo/naming.py:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "line",
    [
        'tags = [f"pipeline:{pipeline_id}"]',
        'name = "lock:" + org',
        'state = Completed(name="CompletedWithWarnings")',
        'name = f"sync-{connection_id.hex}"',
        'prefix = org_object_name(org, "connection")',
        'if limit.name.startswith(f"tag:{org_tag(org)}"): pass',
    ],
)
def test_a_spelled_name_is_found(tmp_path: Path, line: str) -> None:
    module = PACKAGE / "flows" / "_naming_probe.py"
    module.write_text(f'"""A module that spells a name: `pipeline:<id>` here is fine."""\n\n{line}\n')
    try:
        problems = literal_problems(module)
    finally:
        module.unlink()
    assert len(problems) == 1 and problems[0].startswith("dalgo/flows/_naming_probe.py:3: ")
    assert "use " in problems[0]


def test_docstrings_and_other_words_pass(tmp_path: Path) -> None:
    module = PACKAGE / "flows" / "_naming_probe.py"
    module.write_text(
        '"""Runs are tagged `pipeline:<id>` and `connection:<id>`."""\n\n'
        'ROLE = "pipeline-manager"\nPREFIX = "dalgo-sync-"\nLABEL = "connection"\n'
    )
    try:
        assert literal_problems(module) == []
    finally:
        module.unlink()
