"""The dashboard's API client cannot drift from the API: the committed OpenAPI document is the
one `create_app()` serves, and the committed client is what openapi-ts generates from it.
Either failing means: run `make web-client` and commit what it changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.support import WEB

FIX = "run `make web-client` and commit web/openapi.json and web/src/client"


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def current_document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API's OpenAPI document as the generation script writes it now."""
    target = tmp_path_factory.mktemp("openapi") / "openapi.json"
    subprocess.run([sys.executable, str(WEB / "scripts" / "dump_openapi.py"), str(target)], check=True)
    return target


def test_the_committed_openapi_document_is_the_one_the_api_serves(current_document: Path) -> None:
    assert (WEB / "openapi.json").read_text() == current_document.read_text(), FIX


def test_the_committed_client_is_generated_from_the_api(current_document: Path, tmp_path: Path) -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx is needed to generate the dashboard's client: install Node.js 20 and npm")
    if not (WEB / "node_modules" / "@hey-api" / "openapi-ts").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    # The same configuration and document names in a scratch folder, so only the content may differ.
    shutil.copy(current_document, tmp_path / "openapi.json")
    shutil.copy(WEB / "openapi-ts.config.ts", tmp_path)
    (tmp_path / "node_modules").symlink_to(WEB / "node_modules")
    subprocess.run([npx, "openapi-ts"], cwd=tmp_path, check=True, capture_output=True)
    generated, committed = _files(tmp_path / "src" / "client"), _files(WEB / "src" / "client")
    assert sorted(generated) == sorted(committed), FIX
    stale = [name for name in generated if generated[name] != committed[name]]
    assert not stale, f"{stale} differ: {FIX}"
