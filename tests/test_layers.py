"""The layers of the `dalgo` package, and a test that its imports keep to them.

From the top down (docs/architecture.md, "Packages"):

1. entry points: `cli`, `demo`, `stack` (the `dalgo` command and the local stack)
2. `api`: the web API
3. `deployments`: API objects turned into Prefect deployments and blocks
4. `flows`: the Prefect flows a worker runs
5. what the flows use: `blocks`, `ingestion`, `connectors`, `alerts`, `prefect_objects`,
   `flow_run_pages`, `run_states`
6. the base: `naming`, `settings`, `db`, `mail`, `netguard`, `sandbox`, `command_limit`

A module imports from its own layer or a lower one, never a higher one: flows never import
`deployments` or `api`, `deployments` never imports `api`. Two packages are held tighter: `blocks`
(the org's block types) imports only `naming` besides itself, and `naming` imports nothing of
`dalgo`. Every import statement counts, the lazy ones inside functions too. The one place a flow
reaches a higher layer is the reconcile flow's registry of deployment checks
(`dalgo.flows.maintenance.registry.CHECK_MODULES`), which imports them by module name at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dalgo

PACKAGE = Path(dalgo.__file__).parent

LAYERS: list[set[str]] = [
    {"cli", "demo", "stack"},
    {"api"},
    {"deployments"},
    {"flows"},
    {"blocks", "ingestion", "connectors", "alerts", "prefect_objects", "flow_run_pages", "run_states"},
    {"naming", "settings", "db", "mail", "netguard", "sandbox", "command_limit"},
]
ONLY: dict[str, set[str]] = {"blocks": {"blocks", "naming"}, "naming": {"naming"}}
"""Packages held tighter than their layer: what they may import of `dalgo`."""


def _layer(top: str) -> int:
    for index, members in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"dalgo.{top} is in no layer: add it to LAYERS in tests/test_layers.py")


def _top(module: str) -> str | None:
    """The part of `dalgo` a module name is in (`dalgo.flows.ingest` -> `flows`), or None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "dalgo" and len(parts) > 1 else None


def _imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Every module or name the tree imports, as absolute dotted names (relative imports resolved
    against `package`; `from dalgo import naming` gives `dalgo.naming`)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def layer_problems(path: Path) -> list[str]:
    """Each import of the module that reaches above its layer, as `file:line: what and why`."""
    relative = path.relative_to(PACKAGE)
    if relative.parts == ("__init__.py",):
        return []
    top = relative.parts[0].removesuffix(".py")
    package = ".".join(["dalgo", *relative.parts[:-1]])
    own = _layer(top)
    problems: list[str] = []
    for line, name in _imported(ast.parse(path.read_text()), package):
        target = _top(name)
        module = name.rsplit(".", 1)[0] if "." in name.removeprefix("dalgo.") else name
        if target is None or target == top:
            continue
        where = f"dalgo/{relative.as_posix()}:{line}"
        if top in ONLY and target not in ONLY[top]:
            allowed = ", ".join(f"dalgo.{p}" for p in sorted(ONLY[top] - {top})) or "nothing of dalgo"
            problems.append(f"{where}: dalgo.{top} imports {module}; it may import only {allowed}")
        elif _layer(target) < own:
            problems.append(
                f"{where}: dalgo.{top} imports {module}, a layer above it; move the code that needs "
                f"dalgo.{target} into dalgo.{target} (or lower what it needs)"
            )
    return problems


def test_imports_keep_to_the_layers() -> None:
    problems = [p for path in sorted(PACKAGE.rglob("*.py")) for p in layer_problems(path)]
    assert not problems, "Imports against the layers (tests/test_layers.py):\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("folder", "line"),
    [
        ("flows", "from dalgo.deployments.connections import apply_connection"),
        ("flows", "import dalgo.api.main"),
        ("deployments", "from dalgo.api import deps"),
        ("blocks", "from dalgo.settings import Settings"),
        ("flows", "def f() -> None:\n    from dalgo.api.deps import require"),
        ("flows", "from dalgo import deployments"),
        ("flows", "from ..deployments import connections"),
        ("blocks", "from .. import settings"),
    ],
)
def test_an_upward_import_is_found(folder: str, line: str) -> None:
    module = PACKAGE / folder / "_layer_probe.py"
    module.write_text(f'"""A module that imports upward."""\n\n{line}\n')
    try:
        problems = layer_problems(module)
    finally:
        module.unlink()
    assert len(problems) == 1 and problems[0].startswith(f"dalgo/{folder}/_layer_probe.py:")
