"""Attacks on the embedded DuckDB warehouse, through the web API: tenant content in a DuckDB file
(a view built by the org's own dbt run) must not make the API process read its environment or another
org's file, and a symbolic link in the org's folder must never be followed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from dalgo.settings import Settings
from tests.support.accounts import OrgWithRoles

OTHER_ORG_SECRET = "other-org-private-row"


def duckdb_org(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> tuple[OrgWithRoles, Path]:
    """An org with a saved embedded DuckDB warehouse (the default file name), and the file's path."""
    org = make_org_with_roles()
    saved = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "duckdb"}, headers=org.headers["super-admin"]
    )
    assert saved.status_code == 200, saved.text
    return org, Path(saved.json()["path"])


def other_org_file(client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]) -> Path:
    """Another org's DuckDB file holding a private row."""
    _, path = duckdb_org(client, make_org_with_roles)
    with duckdb.connect(str(path)) as connection:
        connection.execute(f"CREATE TABLE main.private AS SELECT '{OTHER_ORG_SECRET}' AS secret")
    return path


def assert_refused_in_words(response_text: str, status_code: int) -> None:
    assert 400 <= status_code < 600 and status_code != 500, (status_code, response_text)
    assert "DALGO_" not in response_text and "PREFECT_" not in response_text
    assert (
        "DALGO_CANARY" not in response_text and "PATH=" not in response_text and "HOME=" not in response_text
    )
    assert OTHER_ORG_SECRET not in response_text


@pytest.mark.filterwarnings("ignore:duckdb-engine doesn't yet support reflection on indices")
def test_a_view_reading_files_is_refused_to_a_guest_without_the_api_environment(
    client: TestClient, settings: Settings, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org, path = duckdb_org(client, make_org_with_roles)
    other = other_org_file(client, make_org_with_roles)
    # A platform file outside every org's folder, as the API process can read it (a key, a token).
    canary = settings.resolved_home / f"platform-{uuid.uuid4().hex}.txt"
    canary.write_text(f"DALGO_CANARY={uuid.uuid4().hex}\n")
    # What one of the org's dbt runs could build: views that read the reader's own files.
    views = {
        "leak": "SELECT * FROM read_text('/proc/self/environ')",
        "leak_csv": "SELECT * FROM read_csv('/proc/self/environ', header = false, sep = '|')",
        "leak_platform": f"SELECT * FROM read_text('{canary}')",
        "leak_other": f"SELECT * FROM read_blob('{other}')",
        "leak_glob": "SELECT * FROM glob('/*')",
    }
    with duckdb.connect(str(path)) as connection:
        for name, query in views.items():
            connection.execute(f"CREATE VIEW main.{name} AS {query}")
        connection.execute("CREATE TABLE main.fine AS SELECT 1 AS x")
        # The attack is real: a reader with DuckDB's defaults gets the platform's file.
        leaked = connection.execute("SELECT content FROM main.leak_platform").fetchone()
        assert leaked is not None and "DALGO_CANARY=" in leaked[0]
    try:
        guest = org.headers["guest"]
        tables = client.get(f"/api/v1/orgs/{org.slug}/warehouse/tables", headers=guest)
        assert tables.status_code == 200, tables.text
        assert {"schema": "main", "table": "leak"} in tables.json()
        for view in views:
            preview = client.get(f"/api/v1/orgs/{org.slug}/warehouse/tables/main/{view}", headers=guest)
            assert_refused_in_words(preview.text, preview.status_code)
            assert "which the platform does not allow" in preview.json()["detail"], preview.text
        fine = client.get(f"/api/v1/orgs/{org.slug}/warehouse/tables/main/fine", headers=guest)
        assert fine.json() == {"columns": ["x"], "rows": [[1]]}
    finally:
        canary.unlink()


def test_a_symlink_planted_in_the_orgs_folder_is_never_followed(
    client: TestClient, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org, path = duckdb_org(client, make_org_with_roles)
    other = other_org_file(client, make_org_with_roles)
    # Tenant code in the sandbox may write the org's folder: it swaps the file for a link.
    path.unlink()
    path.symlink_to(other)
    guest, admin = org.headers["guest"], org.headers["super-admin"]
    tables = client.get(f"/api/v1/orgs/{org.slug}/warehouse/tables", headers=guest)
    assert_refused_in_words(tables.text, tables.status_code)
    assert "symbolic link" in tables.json()["detail"] and "private" not in tables.text
    preview = client.get(f"/api/v1/orgs/{org.slug}/warehouse/tables/main/private", headers=guest)
    assert_refused_in_words(preview.text, preview.status_code)
    assert "symbolic link" in preview.json()["detail"]
    saved_again = client.put(f"/api/v1/orgs/{org.slug}/warehouse", json={"type": "duckdb"}, headers=admin)
    assert saved_again.status_code == 422 and "symbolic link" in saved_again.json()["detail"]
    assert_refused_in_words(saved_again.text, 400)

    # A link to the other org's WAL is not followed either.
    path.unlink()
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE main.mine AS SELECT 1 AS x")
    wal = Path(str(path) + ".wal")
    wal.symlink_to(Path(str(other) + ".wal"))
    refused = client.get(f"/api/v1/orgs/{org.slug}/warehouse/tables", headers=guest)
    assert refused.status_code == 502 and "symbolic link" in refused.json()["detail"]
    wal.unlink()
    assert {"schema": "main", "table": "mine"} in client.get(
        f"/api/v1/orgs/{org.slug}/warehouse/tables", headers=guest
    ).json()


def test_a_link_in_place_before_the_warehouse_is_saved_is_refused(
    client: TestClient, settings: Settings, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    other = other_org_file(client, make_org_with_roles)
    before = other.read_bytes()
    org = make_org_with_roles()
    folder = settings.org_home(org.slug)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stolen.duckdb").symlink_to(other)
    refused = client.put(
        f"/api/v1/orgs/{org.slug}/warehouse",
        json={"type": "duckdb", "path": "stolen.duckdb"},
        headers=org.headers["super-admin"],
    )
    assert refused.status_code == 422 and "symbolic link" in refused.json()["detail"]
    assert other.read_bytes() == before
    missing = client.get(f"/api/v1/orgs/{org.slug}/warehouse", headers=org.headers["super-admin"])
    assert missing.status_code == 404


def test_a_duckdb_path_with_folders_is_refused(
    client: TestClient, settings: Settings, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    for path in (
        "dbt/repo/w.duckdb",
        "../x.duckdb",
        "warehouse/../x.duckdb",
        "/tmp/x.duckdb",
        "./w.duckdb",
        ".hidden.duckdb",
        "w.duckdb/",
        "w.txt",
    ):
        refused = client.put(
            f"/api/v1/orgs/{org.slug}/warehouse",
            json={"type": "duckdb", "path": path},
            headers=org.headers["super-admin"],
        )
        assert refused.status_code == 422, (path, refused.text)
        assert ".duckdb" in refused.text, refused.text
    assert not list(settings.resolved_home.glob(f"orgs/{org.slug}/**/*.duckdb"))
    assert not Path("/tmp/x.duckdb").exists()
