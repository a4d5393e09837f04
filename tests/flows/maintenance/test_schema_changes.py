"""Schema-change detection with a real connector: a CSV source whose columns change is recorded
once and told once to the org's account managers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dalgo.db.notification_models import SchemaChange
from dalgo.flows.maintenance.schema_changes import detect_schema_changes
from dalgo.settings import Settings
from tests.connectors.https_files import HttpsFiles, serve_https
from tests.support.accounts import OrgWithRoles, roles_except
from tests.support.mail import Mailbox


def _connection(client: TestClient, org: OrgWithRoles, url: str) -> str:
    headers = org.headers["pipeline-manager"]
    config = {"dataset_name": "trees", "format": "csv", "url": url, "provider": {"storage": "HTTPS"}}
    source = client.post(
        f"/api/v1/orgs/{org.slug}/sources",
        json={"name": "Trees", "definition": "source-file", "config": config},
        headers=headers,
    )
    assert source.status_code == 201, source.text
    connection = client.post(
        f"/api/v1/orgs/{org.slug}/connections",
        json={
            "name": "Tree survey",
            "source_id": source.json()["id"],
            "streams": ["trees"],
            "destination_schema": "raw",
        },
        headers=headers,
    )
    assert connection.status_code == 201, connection.text
    return str(connection.json()["id"])


def _detect(org: str) -> dict[str, Any]:
    result: dict[str, Any] = asyncio.run(detect_schema_changes(only_orgs=[org]))
    assert result["errors"] == []
    return result


@pytest.fixture()
def served(tmp_path: Path, flow_settings: Settings) -> Iterator[HttpsFiles]:
    """The test's folder served over HTTPS (connectors read no local files)."""
    with serve_https(tmp_path, flow_settings.resolved_connectors_dir) as files:
        yield files


def test_a_changed_csv_is_recorded_and_told_once(
    flow_settings: Settings,
    served: HttpsFiles,
    client: TestClient,
    engine: Engine,
    tmp_path: Path,
    make_org_with_roles: Callable[..., OrgWithRoles],
    mails: Mailbox,
) -> None:
    org = make_org_with_roles()
    csv = tmp_path / "trees.csv"
    csv.write_text("id,kind,height\n1,oak,3.5\n2,ash,7.0\n")
    connection_id = _connection(client, org, served.url(csv.name))

    baseline = _detect(org.slug)
    assert baseline["baseline"] == 1 and baseline["changed"] == 0

    csv.write_text("id,kind,girth,planted\n1,oak,80,2001\n2,ash,120,1990\n")
    changed = _detect(org.slug)
    assert changed["changed"] == 1
    assert _detect(org.slug)["unchanged"] == 1

    with Session(engine) as session:
        rows = session.exec(
            select(SchemaChange)
            .where(SchemaChange.connection_id == uuid.UUID(connection_id))
            .order_by(col(SchemaChange.seq))
        ).all()
    assert [(r.seq, r.changes is None) for r in rows] == [(1, True), (2, False)]
    change = json.loads(rows[1].changes or "{}")
    assert change["columns"] == {"trees": {"added": ["girth", "planted"], "removed": ["height"]}}

    manager = org.users["account-manager"]
    received = mails.to(manager.email)
    assert len(received) == 1
    body = received[0].get_content()
    assert "Tree survey" in body and "girth, planted" in body and "height" in body
    assert f"/orgs/{org.slug}/connections/{connection_id}" in body
    for role in roles_except("account-manager"):
        assert mails.to(org.users[role].email) == []
    notes = client.get("/api/v1/me/notifications", headers=org.headers["account-manager"]).json()
    assert [n["kind"] for n in notes["data"]] == ["schema_changed"]
