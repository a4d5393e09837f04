"""Fixtures for the connector tests: source-faker and source-file installed once per test session
into the session's temporary folder (uv's cache spares the downloads after the first run on a machine)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dalgo.connectors.install import ensure_installed

SESSION_CONNECTORS = ("source-faker", "source-file")


@pytest.fixture(scope="session")
def connectors_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's connectors folder (inside a fresh platform home)."""
    return tmp_path_factory.mktemp("dalgo-home") / "connectors"


@pytest.fixture(scope="session")
def installed(connectors_dir: Path) -> dict[str, Path]:
    """source-faker and source-file installed (side by side), and their executables."""
    with ThreadPoolExecutor(max_workers=len(SESSION_CONNECTORS)) as pool:
        paths = list(pool.map(lambda name: ensure_installed(name, connectors_dir), SESSION_CONNECTORS))
    return dict(zip(SESSION_CONNECTORS, paths, strict=True))


@pytest.fixture()
def people_csv(tmp_path: Path) -> Path:
    """A small CSV file made by the test."""
    path = tmp_path / "people.csv"
    path.write_text("id,name,age\n1,Asha,31\n2,Bilal,27\n3,Chen,45\n", encoding="utf-8")
    return path
