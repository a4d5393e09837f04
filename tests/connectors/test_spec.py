from __future__ import annotations

from pathlib import Path
from typing import Any

from dalgo.connectors.confinement import LOCAL_FILES_REFUSED
from dalgo.connectors.install import install_dir
from dalgo.connectors.spec import (
    MASK,
    SPEC_FILE,
    connector_spec,
    mask_secrets,
    merge_secrets,
    secret_paths,
    split_secrets,
    validate_config,
)


def test_faker_spec_has_count_and_is_cached(installed: dict[str, Path], connectors_dir: Path) -> None:
    spec = connector_spec("source-faker", connectors_dir)
    assert spec["properties"]["count"]["type"] == "integer"
    cached = install_dir("source-faker", connectors_dir) / SPEC_FILE
    assert cached.is_file()
    modified = cached.stat().st_mtime_ns
    assert connector_spec("source-faker", connectors_dir) == spec
    assert cached.stat().st_mtime_ns == modified


def test_validate_config_names_the_field(installed: dict[str, Path], connectors_dir: Path) -> None:
    faker = connector_spec("source-faker", connectors_dir)
    assert validate_config(faker, {"count": 10}) == []
    assert validate_config(faker, {"count": -5}) == ["count: -5 is less than the minimum of 1"]

    file_spec = connector_spec("source-file", connectors_dir)
    assert set(file_spec["required"]) == {"dataset_name", "format", "url", "provider"}
    good = {
        "dataset_name": "people",
        "format": "csv",
        "url": "https://example.org/people.csv",
        "provider": {"storage": "HTTPS"},
    }
    assert validate_config(file_spec, good) == []
    without_url = {key: value for key, value in good.items() if key != "url"}
    assert validate_config(file_spec, without_url) == ["url: a value is required"]
    assert validate_config(file_spec, {**good, "provider": {"storage": "FTP"}}) == [
        'provider.storage: must be one of "HTTPS", "GCS", "S3", "AzBlob", "SSH", "SCP", "SFTP"'
    ]
    assert validate_config(file_spec, {**good, "provider": {"storage": "SSH", "host": "h"}}) == [
        "provider.user: a value is required"
    ]


def test_the_spec_is_the_cloud_one_without_local_storage(
    installed: dict[str, Path], connectors_dir: Path
) -> None:
    """The spec runs in Airbyte's cloud mode (in the sandbox): source-file offers no local storage."""
    file_spec = connector_spec("source-file", connectors_dir)
    storages = [
        choice["properties"]["storage"]["const"] for choice in file_spec["properties"]["provider"]["oneOf"]
    ]
    assert "HTTPS" in storages and "local" not in storages
    assert list(connectors_dir.glob(".spec-*")) == []


def test_validate_config_refuses_local_files(installed: dict[str, Path], connectors_dir: Path) -> None:
    file_spec = connector_spec("source-file", connectors_dir)
    local = {"dataset_name": "p", "format": "csv", "url": "/etc/passwd", "provider": {"storage": "local"}}
    problems = validate_config(file_spec, local)
    assert problems and all("local files cannot be read" in problem for problem in problems)
    faker = connector_spec("source-faker", connectors_dir)
    assert validate_config(faker, {"count": 1, "x": "file:///etc"}) == [f"x: {LOCAL_FILES_REFUSED}"]


def test_validate_config_never_quotes_a_secret(installed: dict[str, Path], connectors_dir: Path) -> None:
    file_spec = connector_spec("source-file", connectors_dir)
    config = {
        "dataset_name": "people",
        "format": "csv",
        "url": "/data/people.csv",
        "provider": {"storage": "SSH", "user": "u", "host": "h", "password": ["hunter2-secret"]},
    }
    problems = validate_config(file_spec, config)
    assert len(problems) == 1 and problems[0].startswith("provider.password: ")
    assert "hunter2" not in problems[0]


def test_source_file_marks_provider_secrets(installed: dict[str, Path], connectors_dir: Path) -> None:
    paths = secret_paths(connector_spec("source-file", connectors_dir))
    assert ("provider", "password") in paths
    assert ("provider", "aws_secret_access_key") in paths
    assert ("provider", "service_account_json") in paths
    assert len(paths) == len(set(paths))


HANDMADE_SPEC: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["api_key"],
    "properties": {
        "api_key": {"type": "string", "airbyte_secret": True},
        "site": {"type": "string"},
        "tunnel": {
            "type": "object",
            "properties": {"host": {"type": "string"}, "ssh_key": {"type": "string", "airbyte_secret": True}},
        },
        "credentials": {
            "type": "object",
            "oneOf": [
                {
                    "properties": {
                        "auth_type": {"const": "oauth"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string", "airbyte_secret": True},
                        "refresh_token": {"type": "string", "airbyte_secret": True},
                    }
                },
                {
                    "properties": {
                        "auth_type": {"const": "token"},
                        "token": {"type": "string", "airbyte_secret": True},
                    }
                },
            ],
        },
    },
}


def test_split_merge_mask_round_trip() -> None:
    assert secret_paths(HANDMADE_SPEC) == [
        ("api_key",),
        ("tunnel", "ssh_key"),
        ("credentials", "client_secret"),
        ("credentials", "refresh_token"),
        ("credentials", "token"),
    ]
    config = {
        "api_key": "k-123",
        "site": "example.org",
        "tunnel": {"host": "bastion", "ssh_key": "-----KEY-----"},
        "credentials": {"auth_type": "oauth", "client_id": "id", "client_secret": "s3cr3t"},
    }
    public, secrets = split_secrets(HANDMADE_SPEC, config)
    assert public == {
        "site": "example.org",
        "tunnel": {"host": "bastion"},
        "credentials": {"auth_type": "oauth", "client_id": "id"},
    }
    assert secrets == {
        "api_key": "k-123",
        "tunnel.ssh_key": "-----KEY-----",
        "credentials.client_secret": "s3cr3t",
    }
    assert merge_secrets(public, secrets) == config
    assert config["tunnel"] == {"host": "bastion", "ssh_key": "-----KEY-----"}, "the input is not changed"
    masked = mask_secrets(HANDMADE_SPEC, config)
    assert masked == {
        "api_key": MASK,
        "site": "example.org",
        "tunnel": {"host": "bastion", "ssh_key": MASK},
        "credentials": {"auth_type": "oauth", "client_id": "id", "client_secret": MASK},
    }
    assert merge_secrets({"site": "x"}, {"tunnel.ssh_key": "k"}) == {"site": "x", "tunnel": {"ssh_key": "k"}}
