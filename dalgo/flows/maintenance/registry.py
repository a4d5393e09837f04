"""The registry of "is this org missing a deployment?" checks that the reconcile flow runs.

A kind of object that owns a deployment (connections; pipelines next) registers one check with
`@deployment_check("<kind>")` in a module of its own. A check that repairs makes deployments, so it
lives in `dalgo.deployments` (`dalgo.deployments.connection_checks`), and flows never import that
layer: the reconcile run imports, by name, every module of this package whose name ends in
`_checks` and every module named in `CHECK_MODULES`. A check gets the Prefect client, the settings, an
org slug and whether to repair; it reports each object whose deployment is missing, recreated or not.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from prefect.client.orchestration import PrefectClient

from dalgo.settings import Settings

CHECK_MODULES: list[str] = ["dalgo.deployments.connection_checks"]
"""Modules outside this package that register deployment checks when imported."""


@dataclass(frozen=True)
class MissingDeployment:
    """An object of an org whose deployment was missing, and what was done about it."""

    kind: str
    object_id: str
    deployment: str
    recreated: bool
    error: str | None = None


DeploymentCheck = Callable[[PrefectClient, Settings, str, bool], Awaitable[list[MissingDeployment]]]
_checks: dict[str, DeploymentCheck] = {}


def deployment_check(kind: str) -> Callable[[DeploymentCheck], DeploymentCheck]:
    """Register the decorated function as the deployment check of a kind of object."""

    def register(check: DeploymentCheck) -> DeploymentCheck:
        _checks[kind] = check
        return check

    return register


def check_modules() -> list[str]:
    """The modules that register checks: this package's `*_checks` modules, then the extra ones."""
    package = Path(__file__).parent
    found = sorted(
        f"{__package__}.{m.name}" for m in pkgutil.iter_modules([str(package)]) if m.name.endswith("_checks")
    )
    return found + CHECK_MODULES


def registered_checks() -> dict[str, DeploymentCheck]:
    """Every registered check, by kind, after importing the modules that register them."""
    for module in check_modules():
        importlib.import_module(module)
    return dict(_checks)
