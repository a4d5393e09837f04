"""Configs that would make a connector read the worker's own files are refused, for every connector.

Connectors run in the sandbox with Airbyte's cloud deployment mode (source-file then refuses local
storage), and our own validation refuses the same configs before any connector starts:

- any value, however deeply nested, that is a `file:` URL;
- a `storage` (such as `provider.storage`) of `local`, in any letter case;
- a `url` that is a path on this machine (`/…`, `./…`, `../…`, `~…`), unless the same object names
  a storage whose paths live on a remote host (SSH, SCP, SFTP, WebHDFS).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

LOCAL_FILES_REFUSED = (
    "local files cannot be read: name a remote location instead (an https:// URL or a cloud or SFTP storage)"
)
LOCAL_PATH_PREFIXES = ("/", "./", "../", "~")
REMOTE_PATH_STORAGES = frozenset({"ssh", "scp", "sftp", "webhdfs"})


def _walk(node: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, node
    if isinstance(node, Mapping):
        for key, child in node.items():
            yield from _walk(child, (*path, str(key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _walk(child, (*path, str(index)))


def _storage_of(holder: Mapping[str, Any]) -> str:
    """The storage an object names for its url: its own `storage`, or its `provider.storage`."""
    provider = holder.get("provider")
    storage = holder.get("storage")
    if storage is None and isinstance(provider, Mapping):
        storage = provider.get("storage")
    return str(storage).strip().lower() if isinstance(storage, str) else ""


def _is_local_path(value: object) -> bool:
    return isinstance(value, str) and value.strip().startswith(LOCAL_PATH_PREFIXES)


def _names_local_storage(path: tuple[str, ...], value: object) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip().lower()
    return text.startswith("file:") or (bool(path) and path[-1] == "storage" and text == "local")


def _remote_paths(holder: Mapping[str, Any]) -> bool:
    """Whether the object's url is a path on a remote host (its storage is SSH, SFTP, ...)."""
    return _storage_of(holder) in REMOTE_PATH_STORAGES


def local_storage_problems(config: Mapping[str, Any]) -> list[str]:
    """Where the config names local storage, each as `<field>: local files cannot be read: …`.
    Empty when the config names only remote places."""
    found: list[str] = []
    for path, value in _walk(config, ()):
        if _names_local_storage(path, value):
            found.append(".".join(path) or "config")
        elif isinstance(value, Mapping) and _is_local_path(value.get("url")) and not _remote_paths(value):
            found.append(".".join((*path, "url")))
    unique = sorted(set(found))
    return [f"{field}: {LOCAL_FILES_REFUSED}" for field in unique]
