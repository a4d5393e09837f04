"""A Prefect state in the API's words (docs/api.md's list of run states): the one mapping, used by
the run reads (`dalgo.deployments.runs`) and by a pipeline telling how each of its steps ended
(`dalgo.flows.pipeline`). The state names it reads are built in `dalgo.naming`."""

from __future__ import annotations

from prefect.client.schemas.objects import State, StateType

from dalgo.naming import AWAITING_SLOT, COMPLETED_WITH_WARNINGS, WAITING_FOR_LOCK

_BY_TYPE = {
    StateType.SCHEDULED: "scheduled",
    StateType.PENDING: "pending",
    StateType.RUNNING: "running",
    StateType.COMPLETED: "completed",
    StateType.FAILED: "failed",
    StateType.CRASHED: "crashed",
    StateType.CANCELLING: "cancelling",
    StateType.CANCELLED: "cancelled",
    StateType.PAUSED: "pending",
}

NAMED_STATES = (COMPLETED_WITH_WARNINGS, WAITING_FOR_LOCK, AWAITING_SLOT)
"""The state names that make a state other than its type's API state."""


def api_state(state: State | None) -> str:
    """A Prefect state in the API's words."""
    if state is None:
        return "pending"
    if state.name in (WAITING_FOR_LOCK, AWAITING_SLOT):
        return "waiting_for_lock"
    if state.type == StateType.COMPLETED and state.name == COMPLETED_WITH_WARNINGS:
        return "completed_with_warnings"
    return _BY_TYPE.get(state.type, "pending")


def state_types(name: str) -> list[StateType]:
    """The Prefect state types an API state (other than one told by a state name) comes from."""
    return [t for t, api_name in _BY_TYPE.items() if api_name == name]
