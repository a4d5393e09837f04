"""Waiting for a condition rather than for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.5) -> T:
    """The condition's first true value, polled every `interval_s`; fails naming `what` when the
    condition has not held within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(interval_s)
