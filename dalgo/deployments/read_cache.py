"""Answers read from Prefect, kept for a few seconds in one API process, and one read shared by
everyone who asks the same question at the same moment.

This is the "short-lived cache" of the design (docs/architecture.md, Run reads): nothing is copied
into the API database, an entry is gone after its `ttl_s`, and the memory is bounded by
`max_entries` (the oldest entry goes first). Each API process keeps its own, so two processes may
each ask Prefect once.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ShortCache(Generic[K, V]):
    """A bounded map of answers that expire `ttl_s` seconds after they were read."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._reading: dict[K, asyncio.Future[V]] = {}

    def get(self, key: K) -> V | None:
        """The answer kept for `key`, or None when there is none or it has expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if time.monotonic() >= expires:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        """Keep `value` for `key` for the next `ttl_s` seconds."""
        self._entries[key] = (time.monotonic() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        """Drop what is kept for `key`."""
        self._entries.pop(key, None)

    async def read(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """The kept answer for `key`, else the answer of `read()`, kept. Callers asking for the
        same key while a read is under way wait for that read instead of starting their own."""
        kept = self.get(key)
        if kept is not None:
            return kept
        under_way = self._reading.get(key)
        if under_way is not None:
            try:
                return await asyncio.shield(under_way)
            except asyncio.CancelledError:
                if under_way.cancelled():
                    return await read()
                raise
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._reading[key] = future
        try:
            value = await read()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()
            raise
        finally:
            self._reading.pop(key, None)
        future.set_result(value)
        self.put(key, value)
        return value
