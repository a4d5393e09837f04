"""Our own refusal of configs naming local storage, whatever the connector."""

from __future__ import annotations

from typing import Any

import pytest

from dalgo.connectors.confinement import local_storage_problems


@pytest.mark.parametrize(
    ("config", "fields"),
    [
        ({"url": "/etc/passwd", "provider": {"storage": "local"}}, ["provider.storage", "url"]),
        ({"url": "/etc/passwd", "provider": {"storage": "LOCAL"}}, ["provider.storage", "url"]),
        ({"url": "./data.csv", "provider": {"storage": "HTTPS"}}, ["url"]),
        ({"url": "~/data.csv", "provider": {"storage": "HTTPS"}}, ["url"]),
        ({"url": "../data.csv"}, ["url"]),
        ({"url": "file:///etc/passwd", "provider": {"storage": "HTTPS"}}, ["url"]),
        ({"nested": {"deeper": [{"path": " FILE:/etc/shadow"}]}}, ["nested.deeper.0.path"]),
        ({"reader": {"storage": "local"}}, ["reader.storage"]),
    ],
)
def test_local_storage_is_named(config: dict[str, Any], fields: list[str]) -> None:
    problems = local_storage_problems(config)
    assert [problem.split(": ", 1)[0] for problem in problems] == fields
    assert all("local files cannot be read" in problem for problem in problems)


@pytest.mark.parametrize(
    "config",
    [
        {"url": "https://example.org/data.csv", "provider": {"storage": "HTTPS"}},
        {"url": "/data/people.csv", "provider": {"storage": "SFTP", "host": "sftp.example.org"}},
        {"url": "/data/people.csv", "provider": {"storage": "ssh"}},
        {"url": "gs://bucket/people.csv", "provider": {"storage": "GCS"}},
        {"count": 10, "seed": 1, "note": "a local library's data"},
        {"storage": "locality"},
    ],
)
def test_remote_places_pass(config: dict[str, Any]) -> None:
    assert local_storage_problems(config) == []
