"""The layout of the tests themselves: fixtures live in conftest.py files, the helpers that several
modules share in helper modules (tests/support/, or a `*_support.py` / `support.py` beside the tests
that use them), and no module imports a conftest.py or a test module. Every import statement
counts, the lazy ones inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _is_forbidden(module: str) -> bool:
    """Whether the dotted name is a conftest module or a test module (`test_*`)."""
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def _imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Every module or name the tree imports, as absolute dotted names (relative imports resolved
    against `package`; `from tests.api import test_dbt` gives both `tests.api` and
    `tests.api.test_dbt`)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _forbidden_imports(root: Path) -> list[str]:
    """`path:line imports module` for every import of a conftest or test module under `root`."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent)
        package = ".".join(relative.parent.parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _imported(tree, package):
            if _is_forbidden(module):
                problems.append(f"{relative}:{line} imports {module}")
    return problems


def test_no_module_imports_a_conftest_or_a_test_module() -> None:
    problems = _forbidden_imports(TESTS)
    assert not problems, (
        "move what is imported into a helper module (tests/support/ or a *_support.py beside its "
        "users); fixtures stay in conftest.py:\n" + "\n".join(problems)
    )


def test_the_check_finds_each_kind_of_import(tmp_path: Path) -> None:
    root = tmp_path / "tests"
    (root / "api").mkdir(parents=True)
    (root / "api" / "helpers.py").write_text(
        "from tests.conftest import OrgWithRoles\n"
        "from tests.api.test_dbt import Repo\n"
        "from tests.api import test_pipelines\n"
        "from . import conftest\n"
        "from .test_warehouse import postgres_body\n"
        "import tests.web.conftest\n"
        "def lazy():\n"
        "    from tests.web.test_transform import run_command\n"
        "from tests.support.accounts import OrgWithRoles as Fine\n"
        "from tests.api.source_support import make_sftp_source\n"
    )
    found = _forbidden_imports(root)
    assert [problem.split(" imports ")[1] for problem in found] == [
        "tests.conftest",
        "tests.api.test_dbt",
        "tests.api.test_pipelines",
        "tests.api.conftest",
        "tests.api.test_warehouse",
        "tests.web.conftest",
        "tests.web.test_transform",
    ]
    assert found[0] == "tests/api/helpers.py:1 imports tests.conftest"
