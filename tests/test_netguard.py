"""The outbound guard on its own: which hosts and URLs a tenant may name, and the words of a refusal
(names resolve through tests.fake_dns, so nothing here needs the network)."""

from __future__ import annotations

from typing import Any

import pytest

from dalgo import netguard
from dalgo.blocks.warehouse import WarehouseBlock
from dalgo.blocks.warehouses.postgres import PostgresBackend
from dalgo.flows.warehouse import outbound_warehouse_problem
from dalgo.netguard import (
    changed_address_fields,
    config_problems,
    host_problem,
    moved_secret_message,
    outbound_problem,
    url_problem,
    where_it_went,
)
from dalgo.settings import Settings
from tests.fake_dns import fake_dns

GUARDED = Settings(database_url="postgresql://x@db/x", allow_private_networks=False)
OPEN = Settings(allow_private_networks=True)


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(
        monkeypatch,
        {
            "public.example.org": ["93.184.216.34", "2606:2800:220:1::"],
            "db.ngo.example": "10.1.2.3",
            "split.example.org": ["93.184.216.34", "169.254.169.254"],
            "mapped.example.org": "::ffff:169.254.169.254",
            "nat64.example.org": "64:ff9b::a9fe:a9fe",
            "loop.example.org": "127.0.0.2",
        },
    )

    resolve_named = netguard.resolve

    def resolve(host: str, timeout_s: float = netguard.RESOLVE_TIMEOUT_S) -> list[netguard.IPAddress]:
        if host.endswith(".invalid"):
            raise OSError("Name or service not known")
        return resolve_named(host, timeout_s)

    monkeypatch.setattr(netguard, "resolve", resolve)


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("169.254.169.254", "is a link-local address (cloud metadata), which the platform never connects to"),
        ("fe80::1", "is a link-local address (cloud metadata)"),
        ("::ffff:169.254.169.254", "is a link-local address (cloud metadata)"),
        ("0.0.0.0", "is an unspecified address"),
        ("::", "is an unspecified address"),
        ("224.0.0.1", "is a multicast address"),
        ("ff02::1", "is a multicast address"),
        ("240.0.0.1", "is a reserved address"),
        ("/var/run/postgresql", "names a Unix socket"),
        ("@abstract", "names a Unix socket"),
        ("split.example.org", "resolves to a link-local address (cloud metadata)"),
        ("mapped.example.org", "resolves to a link-local address (cloud metadata)"),
        ("nat64.example.org", "resolves to a link-local address (cloud metadata)"),
        ("nowhere.invalid", "could not be found: its name does not resolve"),
        ("a,b", "is not a valid host name or address"),
        ("host name", "is not a valid host name or address"),
    ],
)
def test_always_refused_even_where_private_networks_are_allowed(host: str, words: str) -> None:
    problem = host_problem(host, allow_private=True)
    assert problem is not None and words in problem, problem
    assert problem == outbound_problem(host, OPEN)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.9.9.9", "::1", "localhost", "10.0.0.1", "172.16.5.5", "192.168.1.1", "100.64.0.1",
     "fd00::1", "db.ngo.example", "loop.example.org"],
)  # fmt: skip
def test_loopback_and_private_are_refused_only_with_the_guard_on(host: str) -> None:
    assert host_problem(host, allow_private=True) is None
    problem = outbound_problem(host, GUARDED)
    assert problem is not None and "which this platform is set up not to connect to" in problem


def test_a_refusal_names_what_was_typed_never_the_address_it_resolved_to() -> None:
    problem = outbound_problem("db.ngo.example", GUARDED)
    assert problem == (
        "The host db.ngo.example resolves to a private network address, which this platform is set up "
        "not to connect to; give an address reachable on the internet."
    )
    assert "10.1.2.3" not in problem
    assert outbound_problem("localhost", GUARDED) is not None
    assert "127.0.0.1" not in str(outbound_problem("localhost", GUARDED))
    assert outbound_problem("169.254.169.254", OPEN) == (
        "The host 169.254.169.254 is a link-local address (cloud metadata), which the platform never "
        "connects to."
    )


def test_public_hosts_pass() -> None:
    for target in (
        "public.example.org",
        "93.184.216.34",
        "https://public.example.org/x.git",
        "2606:4700::1111",
    ):
        assert outbound_problem(target, GUARDED) is None, target


def test_urls_are_checked_by_their_host_and_their_host_parameters() -> None:
    assert url_problem("https://public.example.org:8443/a?b=c", allow_private=False) is None
    assert "link-local" in str(url_problem("http://169.254.169.254/latest/meta-data", allow_private=True))
    assert "link-local" in str(url_problem("http://[fe80::1]/", allow_private=True))
    assert "loopback" in str(url_problem("https://127.0.0.1/x.git", allow_private=False))
    assert url_problem("https://127.0.0.1/x.git", allow_private=True) is None
    assert "Unix socket" in str(
        url_problem("postgresql://public.example.org/db?host=/var/run/postgresql", allow_private=True)
    )
    assert "names no host" in str(url_problem("https:///x.git", allow_private=True))
    assert "backslashes" in str(
        url_problem("http://169.254.169.254\\@public.example.org/", allow_private=True)
    )
    assert "not a valid URL" in str(url_problem("http://public.example.org:port/", allow_private=True))
    assert url_problem("s3://169.254.169.254/key", allow_private=False) is None, "a bucket, not a host"


def test_connector_configs_are_checked_at_any_depth_by_field_name() -> None:
    config = {
        "dataset_name": "x",
        "url": "http://169.254.169.254/latest/meta-data",
        "provider": {"storage": "SFTP", "Host": "db.ngo.example", "port": "22"},
        "servers": [{"server": "127.0.0.1:1433"}],
        "api": {"base_url": "https://public.example.org/v1", "count": 3},
    }
    problems = config_problems(config, GUARDED)
    assert [problem.split(":", 1)[0] for problem in problems] == ["url", "provider.Host", "servers.0.server"]
    assert config_problems(config, OPEN) == [
        "url: The host 169.254.169.254 is a link-local address (cloud metadata), which the platform never "
        "connects to."
    ]
    assert config_problems({"url": "/data/people.csv", "provider": {"storage": "SFTP"}}, GUARDED) == []
    https = {"url": "db.ngo.example/people.csv", "provider": {"storage": "HTTPS"}}
    assert "url: The host db.ngo.example resolves to a private" in config_problems(https, GUARDED)[0]
    assert config_problems({**https, "provider": {"storage": "SFTP"}}, GUARDED) == []
    assert config_problems({"url": "169.254.169.254/latest/meta-data"}, OPEN) != []
    assert config_problems({"url": "127.0.0.1/file.csv"}, GUARDED) != []
    assert config_problems({"url": "people.csv"}, GUARDED) == []


def test_address_fields_that_changed_are_named() -> None:
    old: dict[str, Any] = {
        "url": "/data/a.csv",
        "provider": {"storage": "SFTP", "host": "sftp.ngo.org", "user": "ngo", "port": "22"},
    }
    assert changed_address_fields(old, old) == []
    assert changed_address_fields(old, {**old, "dataset_name": "renamed"}) == []
    moved = {**old, "provider": {**old["provider"], "host": "evil.example.org"}}
    assert changed_address_fields(old, moved) == ["provider.host"]
    assert where_it_went(old, ["provider.host"]) == "sftp.ngo.org"
    assert where_it_went({"url": "https://api.ngo.org/v1", "user": "u"}, ["user"]) == "https://api.ngo.org/v1"
    assert (
        where_it_went({"provider": {"host": "sftp.ngo.org", "port": "22"}}, ["provider.port"])
        == "sftp.ngo.org"
    )
    assert where_it_went({"account": "ngo"}, ["account"]) == "account ngo"
    assert changed_address_fields(old, {**old, "provider": {**old["provider"], "port": "2222"}}) == [
        "provider.port"
    ]
    assert moved_secret_message(["password"], "db.ngo.org") == (
        "The password was set for db.ngo.org; you changed where it goes, so send it again."
    )


def test_the_check_flow_asks_the_guard_again_about_the_saved_host() -> None:
    saved = WarehouseBlock(type="postgres", host="db.ngo.example", database="d", user="u")
    assert outbound_warehouse_problem(saved, OPEN) is None
    assert "private network" in str(outbound_warehouse_problem(saved, GUARDED))
    duckdb = WarehouseBlock(type="duckdb", path="/srv/w.duckdb")
    assert outbound_warehouse_problem(duckdb, GUARDED) is None


@pytest.mark.parametrize(
    ("driver", "shown"),
    [
        (
            'connection to server at "db.ngo.example" (10.1.2.3), port 5432 failed: '
            "received invalid response to SSL negotiation: H",
            "could not connect to db.ngo.example:5432 (what answers there is not a PostgreSQL server)",
        ),
        (
            'connection to server at "db.ngo.example" (10.1.2.3), port 22 failed: '
            "expected authentication request from server, but received S",
            "could not connect to db.ngo.example:22 (what answers there is not a PostgreSQL server)",
        ),
        (
            'connection to server at "db.ngo.example" (10.1.2.3), port 5432 failed: timeout expired',
            "could not connect to db.ngo.example:5432 (timed out)",
        ),
        (
            'connection to server at "db.ngo.example" (10.1.2.3), port 5432 failed: FATAL:  no pg_hba.conf '
            'entry for host "10.9.9.9", user "u", database "d", SSL off',
            "the server does not accept connections from the platform for this user and database",
        ),
        (
            'connection to server at "db.ngo.example" (10.1.2.3), port 5432 failed: FATAL:  password '
            'authentication failed for user "u"',
            'password authentication failed for user "u"',
        ),
        (
            'connection to server at "db.ngo.example" (10.1.2.3), port 5432 failed: FATAL:  some banner '
            "of an internal proxy 10.9.9.9",
            "the server refused the connection",
        ),
        (
            'could not translate host name "nowhere.invalid" to address: Name or service not known',
            "could not connect to nowhere.invalid (the host name does not resolve)",
        ),
    ],
)
def test_postgres_failures_are_told_in_words_without_banners_or_resolved_addresses(
    driver: str, shown: str
) -> None:
    backend = PostgresBackend(host="db.ngo.example", database="d", user="u")
    assert backend.humanize(driver) == shown
