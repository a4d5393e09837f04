"""The connector catalogue: the source connectors the platform offers, read from `catalogue.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")
DEFAULT_PYTHON = "3.11"


class UnknownConnectorError(LookupError):
    """A connector name that is not in the catalogue."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown connector {name!r}; the catalogue has: {', '.join(known)}")


class CatalogueError(ValueError):
    """The catalogue file is malformed."""


@dataclass(frozen=True)
class Connector:
    """One source connector of the catalogue, pinned to one version of its PyPI package."""

    name: str
    title: str
    package: str
    version: str
    python: str = DEFAULT_PYTHON
    overrides: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        """What is installed: `<package>==<version>`."""
        return f"{self.package}=={self.version}"

    @property
    def executable_name(self) -> str:
        """The name of the connector's executable in its environment's `bin/`."""
        return self.name


def _connector_from_entry(entry: dict[str, Any], source: Path) -> Connector:
    missing = [key for key in ("name", "title", "package", "version") if not entry.get(key)]
    if missing:
        raise CatalogueError(f"{source}: a connector entry lacks {', '.join(missing)}: {entry!r}")
    overrides = entry.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(item, str) for item in overrides):
        raise CatalogueError(f"{source}: overrides of {entry['name']} must be a list of requirements")
    return Connector(
        name=str(entry["name"]),
        title=str(entry["title"]),
        package=str(entry["package"]),
        version=str(entry["version"]),
        python=str(entry.get("python", DEFAULT_PYTHON)),
        overrides=tuple(overrides),
    )


def load_catalogue(path: Path) -> list[Connector]:
    """The connectors listed in a catalogue file, in the file's order."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    entries = data.get("connector", [])
    if not isinstance(entries, list):
        raise CatalogueError(f"{path}: expected [[connector]] tables")
    connectors = [_connector_from_entry(entry, path) for entry in entries]
    names = [item.name for item in connectors]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CatalogueError(f"{path}: connectors listed more than once: {', '.join(duplicates)}")
    return connectors


@lru_cache(maxsize=1)
def _default_catalogue() -> tuple[Connector, ...]:
    return tuple(load_catalogue(CATALOGUE_FILE))


def catalogue() -> list[Connector]:
    """The platform's connectors, from the catalogue shipped with the package."""
    return list(_default_catalogue())


def connector(name: str) -> Connector:
    """The catalogue's connector of this name; `UnknownConnectorError` if there is none."""
    for item in _default_catalogue():
        if item.name == name:
            return item
    raise UnknownConnectorError(name, [item.name for item in _default_catalogue()])


def resolve(connector_or_name: Connector | str) -> Connector:
    """A connector given either itself or its name in the catalogue."""
    if isinstance(connector_or_name, Connector):
        return connector_or_name
    return connector(connector_or_name)
