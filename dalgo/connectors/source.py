"""Running an installed connector through PyAirbyte: the source object, a connection check in words a
person understands, and the streams a source offers.

PyAirbyte is imported lazily (it takes seconds to import) and only after the environment it reads at
import time is set: offline mode (never ask Airbyte's online registry), no telemetry, and its project
and log folders next to the connectors folder rather than under the user's home and `/tmp`, and
the files it hands connectors (config, catalog, state) in a private folder there too.
Every connector process runs in its sandbox (`dalgo.connectors.executor`), seeing the org's own
folder and nothing else of the platform's.
Importing it also runs airbyte_cdk's logging setup (`logging.config.dictConfig`), which would close
every logging handler of the process and replace the root logger's handlers with one printing each
record as an Airbyte protocol message on stdout; that setup is skipped while PyAirbyte is imported
here, and the root logger is left as it was.
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict
from unittest import mock

from dalgo.connectors.catalogue import Connector, resolve
from dalgo.connectors.confinement import local_storage_problems
from dalgo.connectors.install import connectors_dir_or_default, ensure_installed
from dalgo.connectors.spec import MASK, connector_spec, split_secrets, validate_config

if TYPE_CHECKING:
    from airbyte import Source
    from airbyte.exceptions import PyAirbyteError

MIN_REDACTED_LENGTH = 4
_IMPORT_LOCK = threading.Lock()


class SourceError(RuntimeError):
    """A source could not do what was asked (its config is not valid, or the connector failed)."""


class StreamInfo(TypedDict):
    """One stream a source offers, as `discover_streams` describes it."""

    name: str
    properties: list[str]
    sync_modes: list[str]
    incremental: bool
    cursor_field: list[str] | None
    primary_key: list[list[str]] | None


def airbyte_environment(connectors_dir: Path) -> dict[str, str]:
    """The environment variables PyAirbyte needs here, for a given connectors folder."""
    base = connectors_dir.parent / "airbyte"
    return {
        "AIRBYTE_OFFLINE_MODE": "1",
        "DO_NOT_TRACK": "1",
        "AIRBYTE_PROJECT_DIR": str(base),
        "AIRBYTE_LOGGING_ROOT": str(base / "logs"),
        "AIRBYTE_TEMP_DIR": str(base / "tmp"),
    }


def _skip_logging_config(config: dict[str, Any]) -> None:
    """Stands in for `logging.config.dictConfig` while PyAirbyte is imported."""


def prepare_airbyte(connectors_dir: Path | None = None) -> None:
    """Sets PyAirbyte's environment (variables already set are kept) and imports it once, leaving
    the root logger as it was. Later calls change nothing: PyAirbyte reads its settings on import."""
    folder = connectors_dir_or_default(connectors_dir)
    for key, value in airbyte_environment(folder).items():
        os.environ.setdefault(key, value)
    Path(os.environ["AIRBYTE_TEMP_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    with _IMPORT_LOCK:
        if "airbyte" in sys.modules:
            return
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            with (
                warnings.catch_warnings(),
                mock.patch.object(logging.config, "dictConfig", _skip_logging_config),
            ):
                warnings.simplefilter("ignore")
                import airbyte  # noqa: F401
        finally:
            for handler in list(root.handlers):
                if handler not in handlers:
                    root.removeHandler(handler)
            for handler in handlers:
                if handler not in root.handlers:
                    root.addHandler(handler)
            root.setLevel(level)


def get_source(
    connector: Connector | str,
    config: Mapping[str, Any],
    streams: list[str] | None,
    connectors_dir: Path | None,
    org_dir: Path,
) -> Source:
    """A PyAirbyte source running the platform's installed connector (installed first if needed)
    in the sandbox, with `org_dir` (the org's own folder) the only folder it may see of ours.

    With `streams`, those streams are selected (which runs the connector's discover). A config
    naming local storage raises `SourceError` before any connector starts.
    """
    item = resolve(connector)
    refused = local_storage_problems(config)
    if refused:
        raise SourceError(_invalid_config_message(item, refused))
    executable = ensure_installed(item, connectors_dir)
    prepare_airbyte(connectors_dir)
    from airbyte.sources.base import Source as AirbyteSource

    from dalgo.connectors.executor import SandboxedExecutor

    executor = SandboxedExecutor(item.name, path=executable, venv=executable.parent.parent, org_dir=org_dir)
    return AirbyteSource(executor=executor, name=item.name, config=dict(config), streams=streams)


def check_config(connector: Connector | str, config: Mapping[str, Any], connectors_dir: Path | None) -> None:
    """Raises `SourceError` naming the fields at fault when the config does not satisfy the
    connector's spec (the one kept beside the install: no connector process starts)."""
    item = resolve(connector)
    problems = validate_config(connector_spec(item, connectors_dir), config)
    if problems:
        raise SourceError(_invalid_config_message(item, problems))


def _redact(text: str, secrets: Mapping[str, Any]) -> str:
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= MIN_REDACTED_LENGTH:
            text = text.replace(value, MASK)
    return text


def _explain(error: PyAirbyteError) -> str:
    """The most useful words in a PyAirbyte error: the connector's own reason when it gave one."""
    reason = (error.context or {}).get("failure_reason")
    if reason:
        return str(reason)
    original = error.original_exception
    from airbyte.exceptions import PyAirbyteError as BaseError

    if isinstance(original, BaseError):
        return _explain(original)
    text = error.get_message()
    if error.log_text:
        log_text = error.log_text if isinstance(error.log_text, str) else "\n".join(error.log_text)
        last_lines = [line for line in log_text.strip().splitlines() if line.strip()][-3:]
        if last_lines:
            text += ": " + " / ".join(line.strip() for line in last_lines)
    return text


def _invalid_config_message(item: Connector, problems: list[str]) -> str:
    return f"The {item.title} configuration is not valid: " + "; ".join(problems)


def check_source(
    connector: Connector | str,
    config: Mapping[str, Any],
    connectors_dir: Path | None,
    org_dir: Path,
) -> tuple[bool, str]:
    """Whether the source can connect with this config, and why in a sentence a person understands.

    The config is first validated against the connector's spec (naming the fields at fault), then
    the connector's own `check` runs in its sandbox, `org_dir` the one folder of ours it sees.
    Secret values never appear in the message.
    """
    item = resolve(connector)
    spec = connector_spec(item, connectors_dir)
    problems = validate_config(spec, config)
    if problems:
        return False, _invalid_config_message(item, problems)
    _, secrets = split_secrets(spec, config)
    source = get_source(item, config, None, connectors_dir, org_dir)
    from airbyte.exceptions import PyAirbyteError

    try:
        source.check()
    except PyAirbyteError as error:
        return False, _redact(f"{item.title}: the connection check failed: {_explain(error)}", secrets)
    return True, f"{item.title}: the connection check succeeded."


def discover_streams(
    connector: Connector | str,
    config: Mapping[str, Any],
    connectors_dir: Path | None,
    org_dir: Path,
) -> list[StreamInfo]:
    """The streams the source offers with this config: each one's name, the property names of its
    JSON schema, its sync modes, whether it syncs incrementally and its default cursor and primary
    key when the source defines them. Raises `SourceError` with a readable message on failure."""
    item = resolve(connector)
    spec = connector_spec(item, connectors_dir)
    problems = validate_config(spec, config)
    if problems:
        raise SourceError(_invalid_config_message(item, problems))
    _, secrets = split_secrets(spec, config)
    source = get_source(item, config, None, connectors_dir, org_dir)
    from airbyte.exceptions import PyAirbyteError

    try:
        catalog = source.discovered_catalog
    except PyAirbyteError as error:
        message = f"{item.title}: discovering the streams failed: {_explain(error)}"
        raise SourceError(_redact(message, secrets)) from None
    streams: list[StreamInfo] = []
    for stream in catalog.streams:
        schema = stream.json_schema or {}
        properties = schema.get("properties") or {}
        sync_modes = [mode.value for mode in stream.supported_sync_modes]
        streams.append(
            StreamInfo(
                name=stream.name,
                properties=list(properties),
                sync_modes=sync_modes,
                incremental="incremental" in sync_modes,
                cursor_field=list(stream.default_cursor_field) if stream.default_cursor_field else None,
                primary_key=(
                    [list(key) for key in stream.source_defined_primary_key]
                    if stream.source_defined_primary_key
                    else None
                ),
            )
        )
    return streams
