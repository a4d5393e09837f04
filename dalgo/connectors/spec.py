"""A connector's configuration spec: read once from the connector, then validating configs against it
and keeping secrets (properties marked `airbyte_secret`) apart from the rest of a config."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from dalgo.connectors.catalogue import Connector, resolve
from dalgo.connectors.confinement import local_storage_problems
from dalgo.connectors.install import ensure_installed, install_dir
from dalgo.connectors.runtime import connector_sandbox

SPEC_FILE = "spec-cloud.json"
"""The cached spec, as the connector gives it in Airbyte's cloud mode (source-file's then offers
no local storage); an older `spec.json` beside it, from before the sandbox, is not used."""
MASK = "********"
DEFAULT_SPEC_TIMEOUT_S = 120.0

JsonSchema = Mapping[str, Any]


class ConnectorSpecError(RuntimeError):
    """The connector did not answer `spec` with a SPEC message."""


def _messages(stdout: str) -> Iterator[dict[str, Any]]:
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            yield message


def _run_spec(executable: Path, venv: Path, name: str, timeout_s: float) -> dict[str, Any]:
    """`<executable> spec`, sandboxed: a spec belongs to no org, so the only folder it may write is
    an empty scratch folder beside the connectors' installs, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=".spec-", dir=venv.parent) as scratch:
        command = connector_sandbox(venv, Path(scratch), spec=True).command([str(executable), "spec"])
        try:
            completed = command.run(timeout_s)
        except subprocess.TimeoutExpired as error:
            raise ConnectorSpecError(f"{name} spec did not finish within {timeout_s:.0f} s") from error
    errors: list[str] = []
    for message in _messages(completed.stdout):
        if message.get("type") == "SPEC":
            specification = message.get("spec", {}).get("connectionSpecification")
            if isinstance(specification, dict):
                return specification
        if message.get("type") == "TRACE":
            trace_error = message.get("trace", {}).get("error", {})
            if trace_error.get("message"):
                errors.append(str(trace_error["message"]))
    detail = "\n".join(errors) or "\n".join(
        (completed.stderr.strip() or completed.stdout.strip()).splitlines()[-20:]
    )
    raise ConnectorSpecError(
        f"{name} spec gave no specification (exit code {completed.returncode})\n{detail}".rstrip()
    )


def connector_spec(
    connector: Connector | str,
    connectors_dir: Path | None = None,
    *,
    timeout_s: float = DEFAULT_SPEC_TIMEOUT_S,
) -> dict[str, Any]:
    """The connector's `connectionSpecification` (a JSON schema of its config).

    Installs the connector if needed, runs `<executable> spec` (sandboxed, in Airbyte's cloud mode)
    once per installed version and keeps the answer in `spec-cloud.json` in the install folder.
    """
    item = resolve(connector)
    executable = ensure_installed(item, connectors_dir)
    cached = install_dir(item, connectors_dir) / SPEC_FILE
    if cached.is_file():
        loaded: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        return loaded
    specification = _run_spec(executable, cached.parent, item.name, timeout_s)
    partial = cached.with_name(f"{SPEC_FILE}.{uuid.uuid4().hex}.tmp")
    partial.write_text(json.dumps(specification, indent=2) + "\n", encoding="utf-8")
    partial.replace(cached)
    return specification


def _dotted(path: Iterable[object]) -> str:
    return ".".join(str(part) for part in path)


def _alternative_errors(error: ValidationError) -> list[ValidationError] | None:
    """For a failed oneOf/anyOf, the errors of the one alternative the config evidently meant.

    An alternative is meant when no `const` of it failed (the usual `storage: "local"` style of
    telling alternatives apart), and when exactly one alternative is meant, its errors are the ones
    worth showing. None when that cannot be told.
    """
    alternatives = error.validator_value
    if not isinstance(alternatives, list):
        return None
    by_alternative: dict[int, list[ValidationError]] = defaultdict(list)
    for sub_error in error.context or []:
        index = sub_error.relative_schema_path[0]
        if isinstance(index, int):
            by_alternative[index].append(sub_error)
    meant = [
        index
        for index in range(len(alternatives))
        if not any(sub_error.validator == "const" for sub_error in by_alternative.get(index, []))
    ]
    if len(meant) == 1 and by_alternative.get(meant[0]):
        return by_alternative[meant[0]]
    return None


def _discriminators(alternatives: object) -> dict[str, list[object]]:
    """The properties whose `const` tells oneOf alternatives apart, with the allowed values."""
    found: dict[str, list[object]] = defaultdict(list)
    if isinstance(alternatives, list):
        for alternative in alternatives:
            properties = alternative.get("properties", {}) if isinstance(alternative, dict) else {}
            for key, schema in properties.items():
                if isinstance(schema, dict) and "const" in schema:
                    found[key].append(schema["const"])
    return dict(found)


def _missing_property(error: ValidationError) -> str:
    """The property a `required` error is about (its message is `'<name>' is a required property`)."""
    quoted = str(error.message).removesuffix(" is a required property")
    try:
        name = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        return quoted
    return str(name)


def _describe(error: ValidationError) -> list[str]:
    path = list(error.absolute_path)
    if error.validator == "required":
        return [f"{_dotted([*path, _missing_property(error)])}: a value is required"]
    if error.validator in ("oneOf", "anyOf"):
        if not error.context:
            return [f"{_dotted(path) or 'config'}: matches more than one of the allowed forms"]
        chosen = _alternative_errors(error)
        if chosen is not None:
            return [line for sub_error in chosen for line in _describe(sub_error)]
        discriminators = _discriminators(error.validator_value)
        if discriminators and isinstance(error.instance, dict):
            key, allowed = next(iter(discriminators.items()))
            choices = ", ".join(json.dumps(value) for value in allowed)
            if key not in error.instance:
                return [f"{_dotted([*path, key])}: a value is required (one of {choices})"]
            return [f"{_dotted([*path, key])}: must be one of {choices}"]
        return [f"{_dotted(path) or 'config'}: does not match any of the allowed forms"]
    schema = error.schema if isinstance(error.schema, dict) else {}
    if schema.get("airbyte_secret"):
        return [
            f"{_dotted(path)}: the value is not valid (it fails {error.validator}: {error.validator_value})"
        ]
    return [f"{_dotted(path)}: {error.message}" if path else error.message]


def validate_config(spec: JsonSchema, config: Mapping[str, Any]) -> list[str]:
    """Problems of the config under the spec (JSON Schema Draft 7, as Airbyte uses), each naming
    its field, e.g. `count: -5 is less than the minimum of 1` or `url: a value is required`.
    Empty when the config is valid. Values of secret fields are never quoted.

    A config naming local storage (`file:` URLs, a `storage` of `local`, a `url` that is a local
    path) is refused first, whatever the connector: only those problems are then given."""
    confined = local_storage_problems(config)
    if confined:
        return confined
    validator = Draft7Validator(spec)
    problems: list[str] = []
    for error in sorted(validator.iter_errors(config), key=lambda item: [str(p) for p in item.path]):
        for line in _describe(error):
            if line not in problems:
                problems.append(line)
    return problems


def _walk_secrets(schema: object, prefix: tuple[str, ...], found: list[tuple[str, ...]]) -> None:
    if not isinstance(schema, dict):
        return
    if schema.get("airbyte_secret") is True and prefix and prefix not in found:
        found.append(prefix)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for key, child in properties.items():
            _walk_secrets(child, (*prefix, str(key)), found)
    for keyword in ("oneOf", "anyOf", "allOf"):
        alternatives = schema.get(keyword)
        if isinstance(alternatives, list):
            for alternative in alternatives:
                _walk_secrets(alternative, prefix, found)


def secret_paths(spec: JsonSchema) -> list[tuple[str, ...]]:
    """The paths of every property marked `"airbyte_secret": true`, in nested objects and in the
    alternatives of `oneOf`/`anyOf`/`allOf` too (a path shared by alternatives appears once).
    Properties inside arrays are not included."""
    found: list[tuple[str, ...]] = []
    _walk_secrets(spec, (), found)
    return found


def _lookup(config: Mapping[str, Any], path: tuple[str, ...]) -> tuple[dict[str, Any], str] | None:
    """The dict holding the last key of the path, and that key, when the config has the path."""
    node: Any = config
    for key in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            return None
        node = node[key]
    if isinstance(node, dict) and path[-1] in node:
        return node, path[-1]
    return None


def split_secrets(spec: JsonSchema, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config without its secrets, and the secrets by dotted path (e.g. `provider.password`)."""
    public = copy.deepcopy(dict(config))
    secrets: dict[str, Any] = {}
    for path in secret_paths(spec):
        found = _lookup(public, path)
        if found is not None:
            holder, key = found
            secrets[".".join(path)] = holder.pop(key)
    return public, secrets


def merge_secrets(config: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    """The config with the secrets (by dotted path, as `split_secrets` gives them) put back."""
    merged = copy.deepcopy(dict(config))
    for dotted, value in secrets.items():
        keys = dotted.split(".")
        node = merged
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[keys[-1]] = copy.deepcopy(value)
    return merged


def mask_secrets(spec: JsonSchema, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config with every secret value present replaced by `********`."""
    masked = copy.deepcopy(dict(config))
    for path in secret_paths(spec):
        found = _lookup(masked, path)
        if found is not None:
            holder, key = found
            holder[key] = MASK
    return masked
