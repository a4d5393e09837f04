"""dbt's structured log lines, read as dbt writes them: each line goes to the run's logs, and each
dbt node becomes a Prefect task run named like "model donor_totals".

dbt runs in a sandboxed child process (`dalgo.flows.dbt_runner`) with `--log-format json`: every
line on its standard output is one event, `{"info": {"name", "level", "msg", ...}, "data": {...}}`.
Events about a node carry `data.node_info` (`unique_id`, `node_name`, `resource_type`,
`node_status`). dbt's info-level start line (`LogStartLine`, status `started`) opens the node's
task run; the node's result line (`LogModelResult`, `LogTestResult`, ... with a final status) ends
it, failed for an erroring model or a failing test. Nodes dbt skips never start, so they get no
task run, as with prefect-dbt.

Why not prefect-dbt's own callbacks (rebuilding dbt's EventMsg objects from the JSON lines)? They
look each node up in the project's manifest loaded in this process, which would mean parsing the
tenant's project here, outside the sandbox. This reporter needs only the events.

Each task run runs in a thread of its own and waits for its node's result; `close` ends any node
dbt never finished (dbt crashed or was stopped). A thread runs in a copy of the flow run's context
variables, as Prefect's own thread-pool task runner runs a task (prefect-dbt serializes the context
and hydrates it in each thread instead, rebuilding Prefect's context models in every thread).
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.task_engine import run_task_sync
from prefect.tasks import Task

from dalgo.blocks.warehouses.base import scrub

FAILING_STATUSES = frozenset({"error", "fail", "runtime error"})
UNFINISHED_STATUSES = frozenset({"", "started", "compiling", "executing"})
LEVELS = {"info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
"""dbt's event levels that reach the run's logs (debug lines do not)."""
_CLOSE_TIMEOUT_S = 30.0
_MAX_ERRORS = 20


class NodeFailedError(Exception):
    """A dbt node ended in a failing status; its task run fails with this."""


@dataclass
class _Node:
    label: str
    done: threading.Event = field(default_factory=threading.Event)
    status: str = ""
    message: str = ""


def _await_node(node: _Node) -> str:
    """The body of a node's task run: wait for dbt's result for the node."""
    node.done.wait()
    if node.status in FAILING_STATUSES:
        raise NodeFailedError(f"{node.label} ended with status {node.status}: {node.message}")
    return node.status


class NodeTaskRuns:
    """One Prefect task run per dbt node, started and ended as dbt reports the node. Outside a
    flow run (no run context) it does nothing."""

    def __init__(self) -> None:
        self._context = contextvars.copy_context()
        self._enabled = FlowRunContext.get() is not None
        self._nodes: dict[str, _Node] = {}
        self._threads: list[threading.Thread] = []

    def started(self, unique_id: str, label: str) -> None:
        if not self._enabled or unique_id in self._nodes:
            return
        node = self._nodes[unique_id] = _Node(label)
        task = Task(fn=_await_node, name="dbt-node", task_run_name=label, cache_policy=NO_CACHE)
        thread = threading.Thread(target=self._run, args=(task, node), name=f"dbt {label}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self, task: Task[Any, str], node: _Node) -> None:
        self._context.copy().run(run_task_sync, task, parameters={"node": node}, return_type="state")

    def finished(self, unique_id: str, status: str, message: str) -> None:
        node = self._nodes.get(unique_id)
        if node is not None and not node.done.is_set():
            node.status, node.message = status, message
            node.done.set()

    def close(self, reason: str = "dbt stopped before the node finished") -> None:
        """End every node still open (as errored, with `reason`), and wait for the task runs."""
        for unique_id in list(self._nodes):
            self.finished(unique_id, "error", reason)
        for thread in self._threads:
            thread.join(_CLOSE_TIMEOUT_S)


@dataclass
class DbtEventReader:
    """Reads dbt's JSON log lines: logs each message (secrets masked), reports nodes to the task
    runs, and remembers each node's name and type and dbt's error messages."""

    log: Callable[[int, str], None]
    secrets: Sequence[str]
    tasks: NodeTaskRuns
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def line(self, text: str) -> None:
        text = text.rstrip("\n")
        if not text.strip():
            return
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("info"), dict):
            self.log(logging.INFO, scrub(text, list(self.secrets)))  # a print() of a Python model
            return
        info: dict[str, Any] = event["info"]
        data = event.get("data")
        node_info = data.get("node_info") if isinstance(data, dict) else None
        message = scrub(str(info.get("msg") or ""), list(self.secrets))
        if isinstance(node_info, dict):
            self._node(node_info, message)
        level = LEVELS.get(str(info.get("level")))
        if level is None or not message.strip():
            return
        if level == logging.ERROR and len(self.errors) < _MAX_ERRORS:
            self.errors.append(message.strip())
        self.log(level, message)

    def _node(self, node_info: dict[str, Any], message: str) -> None:
        unique_id = str(node_info.get("unique_id") or "")
        if not unique_id:
            return
        kind = str(node_info.get("resource_type") or unique_id.split(".")[0])
        name = str(node_info.get("node_name") or unique_id.split(".")[-1])
        self.names[unique_id] = (kind, name)
        status = str(node_info.get("node_status") or "")
        if status == "started":
            self.tasks.started(unique_id, f"{kind} {name}")
        elif status not in UNFINISHED_STATUSES:
            self.tasks.finished(unique_id, status, message)


def node_label(unique_id: str, names: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """A node's type and name: as dbt's events gave them, else read from its unique id
    (`model.project.name`, `test.project.name.hash`)."""
    if unique_id in names:
        return names[unique_id]
    parts = unique_id.split(".")
    return parts[0], parts[2] if len(parts) > 2 else parts[-1]


def parse_results(text: str) -> list[dict[str, Any]]:
    """The `results` of a run_results.json, or an empty list when it cannot be read."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    results = document.get("results") if isinstance(document, dict) else None
    return [item for item in results if isinstance(item, dict)] if isinstance(results, list) else []
