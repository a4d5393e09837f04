from __future__ import annotations

import re
from pathlib import Path

import pytest

from dalgo.connectors.catalogue import (
    CatalogueError,
    Connector,
    UnknownConnectorError,
    catalogue,
    connector,
    load_catalogue,
)


def test_catalogue_lists_the_platform_connectors_pinned() -> None:
    connectors = catalogue()
    names = [item.name for item in connectors]
    assert names == [
        "source-faker",
        "source-file",
        "source-google-sheets",
        "source-commcare",
        "source-surveycto",
        "source-avni",
    ]
    for item in connectors:
        assert isinstance(item, Connector)
        assert item.package == "airbyte-" + item.name
        assert re.fullmatch(r"\d+\.\d+\.\d+", item.version), item
        assert item.title
        assert item.python == "3.11"
    assert connector("source-faker").requirement == "airbyte-source-faker==7.2.1"
    assert connector("source-file").overrides == ("smart-open[all]==6.0.0",)


def test_unknown_connector_is_a_clear_error() -> None:
    with pytest.raises(UnknownConnectorError) as raised:
        connector("source-nothing")
    assert "source-nothing" in str(raised.value)
    assert "source-faker" in str(raised.value)


def test_connector_is_frozen() -> None:
    item = connector("source-faker")
    with pytest.raises(AttributeError):
        item.version = "0.0.1"  # type: ignore[misc]


def test_malformed_catalogue_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text('[[connector]]\nname = "source-x"\ntitle = "X"\npackage = "airbyte-source-x"\n')
    with pytest.raises(CatalogueError, match="version"):
        load_catalogue(path)
    path.write_text('[[connector]]\nname = "source-x"\ntitle = "X"\npackage = "p"\nversion = "1.0.0"\n' * 2)
    with pytest.raises(CatalogueError, match="more than once"):
        load_catalogue(path)
