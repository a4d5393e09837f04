"""Fixtures for the connector tests: source-faker and source-file installed once per test run
into the run's connectors folder (uv's cache spares the downloads after the first run on a machine)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dalgo.connectors.install import ensure_installed
from tests.connectors.https_files import HttpsFiles, serve_https

SESSION_CONNECTORS = ("source-faker", "source-file")


@pytest.fixture(scope="session")
def connectors_dir(shared_connectors_dir: Path) -> Path:
    """The run's connectors folder."""
    return shared_connectors_dir


@pytest.fixture(scope="session")
def installed(connectors_dir: Path) -> dict[str, Path]:
    """source-faker and source-file installed (side by side), and their executables."""
    with ThreadPoolExecutor(max_workers=len(SESSION_CONNECTORS)) as pool:
        paths = list(pool.map(lambda name: ensure_installed(name, connectors_dir), SESSION_CONNECTORS))
    return dict(zip(SESSION_CONNECTORS, paths, strict=True))


@pytest.fixture()
def org_dir(tmp_path: Path) -> Path:
    """The folder of the test's org: the one folder of ours its connectors' sandboxes see."""
    folder = tmp_path / "orgs" / "test-org"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def https_files(
    installed: dict[str, Path], connectors_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpsFiles]:
    """A folder served over HTTPS on 127.0.0.1, trusted by the session's source-file."""
    with serve_https(tmp_path_factory.mktemp("served"), connectors_dir) as served:
        yield served


@pytest.fixture()
def people_csv(https_files: HttpsFiles, tmp_path: Path) -> str:
    """The URL of a small CSV file made by the test, served over HTTPS."""
    name = f"people-{tmp_path.name}.csv"
    (https_files.folder / name).write_text(
        "id,name,age\n1,Asha,31\n2,Bilal,27\n3,Chen,45\n", encoding="utf-8"
    )
    return https_files.url(name)
