"""Attacks on the addresses a tenant names, through the web API: warehouse hosts, git URLs and
connector URLs pointing at the platform's own machine, its private network or cloud metadata; a
saved secret sent to a new host; a connection check used to read what answers on a port.

The session's app allows private networks (its warehouses are the local Postgres); the guard's
refusals of loopback and private addresses are tried on a second app with them refused, sharing the
session's database and Prefect server (so the same users and tokens work)."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dalgo.api.main import create_app
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.deployments.client import prefect_client
from dalgo.naming import warehouse_block_name
from dalgo.settings import Settings
from tests.api.source_support import make_sftp_source, stored_source
from tests.fake_dns import fake_dns
from tests.support.accounts import OrgWithRoles
from tests.support.warehouses import postgres_body

METADATA = "169.254.169.254"


@pytest.fixture(scope="module")
def guarded(client: TestClient, settings: Settings) -> Iterator[TestClient]:
    """The API with the production setting: loopback and private addresses refused."""
    app = create_app(settings.model_copy(update={"allow_private_networks": False}))
    with TestClient(app) as guarded_client:
        yield guarded_client


@pytest.fixture()
def dns(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(
        monkeypatch,
        {
            "warehouse.ngo.example": "10.20.30.40",
            "metadata.ngo.example": METADATA,
            "git.ngo.example": "10.9.8.7",
        },
    )


def _detail(response: Any) -> str:
    assert response.status_code == 422, response.text
    detail: str = response.json()["detail"]
    return detail


def test_a_warehouse_host_on_the_platforms_network_is_refused_with_the_guard_on(
    client: TestClient,
    guarded: TestClient,
    dns: None,
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[[], OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    manager = org.headers["account-manager"]
    path = f"/api/v1/orgs/{org.slug}/warehouse"
    url = make_database("wh")

    loopback = _detail(guarded.put(path, json=postgres_body(url), headers=manager))
    assert loopback.startswith("The host 127.0.0.1 is a loopback address"), loopback
    named = _detail(guarded.put(path, json=postgres_body(url, host="localhost"), headers=manager))
    assert named.startswith("The host localhost is a loopback address"), named
    private = _detail(
        guarded.put(path, json=postgres_body(url, host="warehouse.ngo.example"), headers=manager)
    )
    assert private.startswith("The host warehouse.ngo.example resolves to a private network address")
    assert "10.20.30.40" not in private, "a refusal never tells the address a name resolved to"

    for app in (client, guarded):
        metadata = _detail(app.put(path, json=postgres_body(url, host=METADATA), headers=manager))
        assert metadata == (
            "The host 169.254.169.254 is a link-local address (cloud metadata), which the platform "
            "never connects to."
        )
        by_name = _detail(
            app.put(path, json=postgres_body(url, host="metadata.ngo.example"), headers=manager)
        )
        assert "resolves to a link-local address (cloud metadata)" in by_name and METADATA not in by_name
        socket_folder = _detail(
            app.put(path, json=postgres_body(url, host="/var/run/postgresql"), headers=manager)
        )
        assert "names a Unix socket" in socket_folder
        many = _detail(app.put(path, json=postgres_body(url, host=f"127.0.0.1,{METADATA}"), headers=manager))
        assert "is not a valid host name or address" in many
    assert client.get(path, headers=manager).status_code == 404, "nothing was saved"


def test_a_saved_warehouse_is_checked_again_when_it_is_used(
    client: TestClient,
    guarded: TestClient,
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[[], OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    path = f"/api/v1/orgs/{org.slug}/warehouse"
    saved = client.put(path, json=postgres_body(make_database("wh")), headers=org.headers["account-manager"])
    assert saved.status_code == 200, saved.text
    guest = org.headers["guest"]
    assert client.get(f"{path}/tables", headers=guest).status_code == 200
    refused = _detail(guarded.get(f"{path}/tables", headers=guest))
    assert refused.startswith("The host 127.0.0.1 is a loopback address")
    assert "loopback" in _detail(guarded.get(f"{path}/tables/public/anything", headers=guest))


def test_a_connection_check_does_not_echo_what_answers_on_a_port(
    client: TestClient, make_database: Callable[[str], str], make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    banner = b"HTTP/1.1 400 Bad Request\r\nServer: internal-proxy-7 10.0.0.9\r\n\r\n"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(banner)

    threading.Thread(target=answer, daemon=True).start()
    org = make_org_with_roles()
    try:
        detail = _detail(
            client.put(
                f"/api/v1/orgs/{org.slug}/warehouse",
                json=postgres_body(make_database("wh"), port=port),
                headers=org.headers["account-manager"],
            )
        )
    finally:
        listener.close()
    assert detail == (
        f"The warehouse did not accept the connection: could not connect to 127.0.0.1:{port} "
        "(what answers there is not a PostgreSQL server)"
    )


def test_a_git_url_on_the_platforms_network_is_refused(
    client: TestClient, guarded: TestClient, dns: None, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    path = f"/api/v1/orgs/{org.slug}/dbt"
    analyst = org.headers["analyst"]
    body = {"git_url": f"https://{METADATA}/x.git", "target_schema": "analytics"}
    assert "link-local address (cloud metadata)" in _detail(client.put(path, json=body, headers=analyst))
    internal = {**body, "git_url": "https://git.ngo.example/ngo/project.git"}
    detail = _detail(guarded.put(path, json=internal, headers=analyst))
    assert detail.startswith("The host git.ngo.example resolves to a private network address")
    assert "10.9.8.7" not in detail
    assert client.get(path, headers=analyst).status_code == 404


def test_a_connector_url_on_the_platforms_network_is_refused(
    client: TestClient, guarded: TestClient, dns: None, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    manager = org.headers["pipeline-manager"]
    path = f"/api/v1/orgs/{org.slug}/sources"
    config = {
        "dataset_name": "meta",
        "format": "csv",
        "url": f"http://{METADATA}/latest/meta-data",
        "provider": {"storage": "HTTPS"},
    }
    body = {"name": "Metadata", "definition": "source-file", "config": config}
    detail = _detail(client.post(path, json=body, headers=manager))
    assert detail == (
        "The configuration names an address the platform does not connect to: url: The host "
        "169.254.169.254 is a link-local address (cloud metadata), which the platform never connects to."
    )
    schemeless = {**config, "url": "warehouse.ngo.example/people.csv"}
    refused = _detail(guarded.post(path, json={**body, "config": schemeless}, headers=manager))
    assert "url: The host warehouse.ngo.example resolves to a private network address" in refused

    fine = {**config, "url": "https://127.0.0.1:9/people.csv"}
    created = client.post(path, json={**body, "config": fine}, headers=manager)
    assert created.status_code == 201, created.text
    source = f"{path}/{created.json()['id']}"
    moved = _detail(client.put(source, json={"config": config}, headers=manager))
    assert "link-local address (cloud metadata)" in moved
    assert client.get(source, headers=manager).json()["config"]["url"] == fine["url"]
    assert client.get(path, headers=manager).json()["count"] == 1


def test_a_masked_warehouse_password_is_not_sent_to_a_new_host(
    client: TestClient,
    settings: Settings,
    make_database: Callable[[str], str],
    make_org_with_roles: Callable[[], OrgWithRoles],
) -> None:
    org = make_org_with_roles()
    manager = org.headers["account-manager"]
    path = f"/api/v1/orgs/{org.slug}/warehouse"
    body = postgres_body(make_database("wh"))
    assert client.put(path, json=body, headers=manager).status_code == 200

    asking = "The password was set for 127.0.0.1; you changed where it goes, so send it again."
    for changes in (
        {"host": "localhost", "password": "********"},
        {"host": "localhost"},
        {"port": 6543, "password": "********"},
        {"user": "someone_else", "password": "********"},
        {"database": "postgres", "password": "********"},
    ):
        moved = {k: v for k, v in body.items() if k != "password"} | changes
        assert _detail(client.put(path, json=moved, headers=manager)) == asking, changes

    async def stored() -> WarehouseBlock:
        async with prefect_client(settings) as prefect:
            return await WarehouseBlock.aload(warehouse_block_name(org.slug), client=prefect)

    block = asyncio.run(stored())
    assert block.host == "127.0.0.1" and block.password is not None
    assert block.password.get_secret_value() == body["password"]

    kept = client.put(path, json={**body, "password": "********", "schema": "other"}, headers=manager)
    assert kept.status_code == 200, kept.text
    assert asyncio.run(stored()).password.get_secret_value() == body["password"]  # type: ignore[union-attr]
    resent = client.put(path, json={**body, "host": "localhost", "password": "new-one"}, headers=manager)
    assert resent.status_code == 200, resent.text
    assert asyncio.run(stored()).password.get_secret_value() == "new-one"  # type: ignore[union-attr]


def test_a_masked_source_secret_is_not_sent_to_a_new_host(
    client: TestClient, settings: Settings, make_org_with_roles: Callable[..., OrgWithRoles]
) -> None:
    org = make_org_with_roles()
    manager = org.headers["pipeline-manager"]
    password = f"sftp-{uuid.uuid4().hex}"
    created = make_sftp_source(client, org, password)
    path = f"/api/v1/orgs/{org.slug}/sources/{created['id']}"
    masked = created["config"]

    asking = "The password was set for 127.0.0.1; you changed where it goes, so send it again."
    for provider_changes in ({"host": "127.0.0.2"}, {"port": "2222"}, {"user": "other"}):
        moved = {**masked, "provider": {**masked["provider"], **provider_changes}}
        assert _detail(client.put(path, json={"config": moved}, headers=manager)) == asking, provider_changes

    public, secrets = stored_source(settings, org.slug, created["id"])
    assert public["provider"]["host"] == "127.0.0.1" and secrets == {"provider.password": password}

    renamed = client.put(path, json={"config": {**masked, "dataset_name": "folks"}}, headers=manager)
    assert renamed.status_code == 200, "a secret stays while its address does"
    assert stored_source(settings, org.slug, created["id"])[1] == {"provider.password": password}

    left_out = {k: v for k, v in masked["provider"].items() if k != "password"} | {"host": "127.0.0.2"}
    dropped = client.put(path, json={"config": {**masked, "provider": left_out}}, headers=manager)
    assert dropped.status_code == 200, dropped.text
    assert dropped.json()["config"]["provider"].get("password") is None
    public, secrets = stored_source(settings, org.slug, created["id"])
    assert public["provider"]["host"] == "127.0.0.2" and secrets == {}, "a secret left out stays behind"
