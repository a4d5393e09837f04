"""One dbt command run through prefect-dbt's `PrefectDbtRunner`, and its outcome summarised.

Inside a flow run the runner makes a task run per dbt node and sends dbt's own log lines to the
run's logs as they happen, so each node's line ("1 of 5 OK created sql view model ...") shows up
while the command is still running. dbt itself is imported only here, when a command runs.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dalgo.blocks.warehouses.base import scrub

Outcome = Literal["success", "warnings", "failed"]
FAILED_STATUSES = frozenset({"error", "runtime error"})
WARNING_STATUSES = frozenset({"fail", "warn", "partial success"})
MAX_MESSAGE_LENGTH = 1000
_MAX_NAMED = 5


@dataclass
class DbtOutcome:
    """What a dbt command did: its outcome, a sentence, and one entry per node it ran."""

    outcome: Outcome
    message: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """How many nodes ended in each status."""
        return dict(sorted(Counter(node["status"] for node in self.nodes).items()))


def _value(status: Any) -> str:
    return str(getattr(status, "value", status))


def _node_summary(result: Any, secrets: list[str]) -> dict[str, Any]:
    node = result.node
    adapter_response = result.adapter_response if isinstance(result.adapter_response, dict) else {}
    rows = adapter_response.get("rows_affected")
    return {
        "unique_id": node.unique_id,
        "name": node.name,
        "type": _value(node.resource_type),
        "status": _value(result.status),
        "execution_time_s": round(float(result.execution_time or 0.0), 3),
        "rows_affected": rows if isinstance(rows, int) and rows >= 0 else None,
        "failures": result.failures,
        "message": scrub(str(result.message), secrets) if result.message is not None else None,
    }


def _names(nodes: Iterable[dict[str, Any]]) -> str:
    listed = [f"{node['type']} {node['name']}" for node in nodes]
    shown = ", ".join(listed[:_MAX_NAMED])
    return shown + (f" and {len(listed) - _MAX_NAMED} more" if len(listed) > _MAX_NAMED else "")


def _shorten(text: str, secrets: list[str]) -> str:
    text = scrub(text.strip(), secrets)
    return text if len(text) <= MAX_MESSAGE_LENGTH else text[: MAX_MESSAGE_LENGTH - 1].rstrip() + "…"


def summarise(label: str, nodes: list[dict[str, Any]], success: bool, secrets: list[str]) -> DbtOutcome:
    """The outcome of a finished command: failed when a node errored (or dbt reported failure with
    no failing test), with warnings when tests failed or warned, a success otherwise."""
    errored = [node for node in nodes if node["status"] in FAILED_STATUSES]
    warned = [node for node in nodes if node["status"] in WARNING_STATUSES]
    if errored:
        first = errored[0]
        reason = _shorten(str(first["message"] or "no message"), secrets)
        return DbtOutcome("failed", f"dbt {label} failed in {_names(errored)}: {reason}", [*nodes], 0.0)
    if warned:
        return DbtOutcome("warnings", f"dbt {label} finished, but {_names(warned)} did not pass.", nodes)
    if not success:
        return DbtOutcome("failed", f"dbt {label} did not succeed.", nodes)
    done = Counter(node["type"] for node in nodes)
    what = ", ".join(f"{count} {kind}{'s' if count != 1 else ''}" for kind, count in sorted(done.items()))
    return DbtOutcome("success", f"dbt {label} succeeded" + (f": {what}." if what else "."), nodes)


def _invocation_error(exc: BaseException, secrets: list[str]) -> str:
    text = str(exc)
    if text.startswith("Failed to invoke dbt command") and "': " in text:
        text = text.split("': ", 1)[1]
    return _shorten(text, secrets)


def run_dbt(
    args: list[str],
    project_dir: Path,
    target_dir: Path,
    profiles_dir: Path,
    log_dir: Path,
    secrets: list[str],
) -> DbtOutcome:
    """Run `dbt <args>` on the project with the given folders; never raises for a dbt failure.

    dbt sends no usage statistics unless the worker's environment asks for them."""
    from prefect_dbt.core.runner import PrefectDbtRunner  # type: ignore[import-untyped]
    from prefect_dbt.core.settings import PrefectDbtSettings  # type: ignore[import-untyped]

    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    label = " ".join(arg for arg in args[:2] if not arg.startswith("-"))
    settings = PrefectDbtSettings(project_dir=project_dir, profiles_dir=profiles_dir, target_path=target_dir)
    runner = PrefectDbtRunner(settings=settings, raise_on_failure=False, disable_assets=True)
    started = time.monotonic()
    try:
        result = runner.invoke(args, log_path=str(log_dir), log_level_file="none")
    except Exception as exc:  # noqa: BLE001 - dbt's reason becomes the run's message
        outcome = DbtOutcome("failed", f"dbt {label} could not run: {_invocation_error(exc, secrets)}")
    else:
        items = getattr(getattr(result, "result", None), "results", None)
        nodes = [_node_summary(item, secrets) for item in items] if isinstance(items, list | tuple) else []
        outcome = summarise(label, nodes, bool(result.success), secrets)
    outcome.duration_s = round(time.monotonic() - started, 3)
    return outcome
