"""Flow runs read from Prefect in a stable time order: one page of a list newest first, or every run
a filter matches.

Prefect sorts flow runs by one column and breaks no ties, and its flow-run ids are random, so an
order by id says nothing about time. Runs due at the same instant (the pipelines of one cron
schedule) tie, and Postgres may hand tied rows out in any order, so a page edge that falls inside
such a group could show a run on two pages and another on none. Here the order is total: time,
newest first, then id; a group of tied runs that crosses a page edge is read whole (one filtered
read) and ordered by id. Every run a filter matches is read by time ranges (keyset), not by
offsets, so a run that leaves the filter while the pages are read (a running run that ends) does
not shift another run out of sight.

"Time" is Prefect's own: the start time, or the expected start time of a run that has not started
(`FlowRunSort.START_TIME_DESC` and the `start_time` filter both use that), or the end time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterEndTime, FlowRunFilterStartTime
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort

PREFECT_MAX_LIMIT = 200
"""The most runs one read may ask Prefect for (PREFECT_API_DEFAULT_LIMIT)."""

TICK = timedelta(microseconds=1)
"""The resolution of Prefect's timestamps: a strict bound is an inclusive one moved by a tick."""

TimeField = Literal["start", "end"]


@dataclass(frozen=True)
class _Order:
    """A time order of flow runs, newest first: the sort, a run's time and the range filter."""

    sort: FlowRunSort
    key: Callable[[FlowRun], datetime | None]
    field: str


def start_time(run: FlowRun) -> datetime | None:
    """When the run started, or is expected to start (Prefect's START_TIME sort key)."""
    return run.start_time or run.expected_start_time


def end_time(run: FlowRun) -> datetime | None:
    """When the run ended."""
    return run.end_time


ORDERS: dict[TimeField, _Order] = {
    "start": _Order(FlowRunSort.START_TIME_DESC, start_time, "start_time"),
    "end": _Order(FlowRunSort.END_TIME_DESC, end_time, "end_time"),
}


def _within(
    run_filter: FlowRunFilter, order: _Order, before: datetime | None, after: datetime | None
) -> FlowRunFilter:
    """The filter narrowed to times in [after, before] (either end open when None)."""
    current = getattr(run_filter, order.field)
    if current is not None:
        if current.before_ is not None:
            before = current.before_ if before is None else min(before, current.before_)
        if current.after_ is not None:
            after = current.after_ if after is None else max(after, current.after_)
    bound: FlowRunFilterStartTime | FlowRunFilterEndTime
    if order.field == "start_time":
        bound = FlowRunFilterStartTime(before_=before, after_=after)
    else:
        bound = FlowRunFilterEndTime(before_=before, after_=after)
    if current is not None and current.is_null_ is not None:
        bound.is_null_ = current.is_null_
    return run_filter.model_copy(update={order.field: bound})


def newest_first(runs: Sequence[FlowRun], time: TimeField = "start") -> list[FlowRun]:
    """The runs in the total order: time newest first (runs without one first, as Postgres puts
    NULLs first in a descending sort), then id, highest first."""
    key = ORDERS[time].key
    return sorted(runs, key=lambda r: (key(r) is None, key(r) or datetime.min, r.id.int), reverse=True)


async def _read(
    client: PrefectClient, run_filter: FlowRunFilter, sort: FlowRunSort, limit: int, offset: int
) -> list[FlowRun]:
    if limit <= 0:
        return []
    return await client.read_flow_runs(flow_run_filter=run_filter, sort=sort, limit=limit, offset=offset)


async def _all_by_id(
    client: PrefectClient, run_filter: FlowRunFilter, page_size: int = PREFECT_MAX_LIMIT
) -> list[FlowRun]:
    """Every run the filter matches, in pages ordered by id (a total order, so no run is missed
    while the set stays put); meant for small sets such as the runs tied at one instant."""
    found: dict[uuid.UUID, FlowRun] = {}
    offset = 0
    while True:
        page = await _read(client, run_filter, FlowRunSort.ID_DESC, page_size, offset)
        found.update((run.id, run) for run in page)
        if len(page) < page_size:
            return list(found.values())
        offset += page_size


async def _tied_group(
    client: PrefectClient, run_filter: FlowRunFilter, order: _Order, at: datetime
) -> tuple[int, list[FlowRun]]:
    """How many runs are newer than `at`, and the runs at exactly `at` in the total order."""
    newer_filter = _within(run_filter, order, None, at + TICK)
    newer, group = await asyncio.gather(
        client.count_flow_runs(flow_run_filter=newer_filter),
        _all_by_id(client, _within(run_filter, order, at, at)),
    )
    return newer, sorted(group, key=lambda r: r.id.int, reverse=True)


@dataclass(frozen=True)
class RunPage:
    """One page of runs newest first; `total` is how many match in all when the read saw the end
    of the list (then no count is needed), else None."""

    runs: list[FlowRun]
    total: int | None


async def _window(
    client: PrefectClient, run_filter: FlowRunFilter, sort: FlowRunSort, limit: int, offset: int
) -> tuple[FlowRun | None, list[FlowRun], FlowRun | None, bool]:
    """The page, the run just before it and the run just after it (None at either end), and whether
    the read reached the end of the list. One read when that fits in Prefect's limit, else three
    at once."""
    before = 1 if offset > 0 else 0
    size = before + limit + 1
    if size <= PREFECT_MAX_LIMIT:
        rows = await _read(client, run_filter, sort, size, offset - before)
        prev = rows[0] if before and rows else None
        page = rows[before : before + limit]
        after = rows[before + limit] if len(rows) == size else None
        return prev, page, after, len(rows) < size
    prev_rows, page, after_rows = await asyncio.gather(
        _read(client, run_filter, sort, before, offset - before),
        _read(client, run_filter, sort, limit, offset),
        _read(client, run_filter, sort, 1, offset + limit),
    )
    prev = prev_rows[0] if prev_rows else None
    return prev, page, (after_rows[0] if after_rows else None), not after_rows


async def newest_first_page(
    client: PrefectClient, run_filter: FlowRunFilter, limit: int, offset: int
) -> RunPage:
    """Runs `offset` to `offset + limit` of the filter's runs in the total order (start time newest
    first, then id), so that pages read one after another neither repeat nor skip a run.

    Usually one Prefect read: the page with one run either side. Only when the runs at the page's
    first or last instant continue beyond its edge is that instant's group read whole (with a count
    of the runs before it), to place the edge by id."""
    order = ORDERS["start"]
    prev, page, after, at_end = await _window(client, run_filter, order.sort, limit, offset)
    total = offset + len(page) if at_end and (page or offset == 0) else None
    if not page:
        return RunPage([], total)
    edges: set[datetime] = set()
    first, last = order.key(page[0]), order.key(page[-1])
    if prev is not None and first is not None and order.key(prev) == first:
        edges.add(first)
    if after is not None and last is not None and order.key(after) == last:
        edges.add(last)
    if not edges:
        return RunPage(newest_first(page), total)
    times = sorted(edges, reverse=True)
    read = await asyncio.gather(*(_tied_group(client, run_filter, order, t) for t in times))
    groups = dict(zip(times, read, strict=True))
    runs: list[FlowRun] = []
    for run in newest_first(page):
        at = order.key(run)
        if at not in groups:
            runs.append(run)
        elif not runs or order.key(runs[-1]) != at:
            newer, group = groups[at]
            runs.extend(group[max(offset - newer, 0) : max(offset + limit - newer, 0)])
    return RunPage(runs[:limit], total)


async def all_runs(
    client: PrefectClient, run_filter: FlowRunFilter, time: TimeField, page_size: int = PREFECT_MAX_LIMIT
) -> list[FlowRun]:
    """Every run the filter matches, newest first by `time`, read `page_size` at a time by time
    ranges: each read asks for runs strictly older than the last instant already read whole. With
    `time="end"`, the filter must leave out runs that have not ended (an `end_time` bound does)."""
    order = ORDERS[time]
    found: dict[uuid.UUID, FlowRun] = {}
    older_than: datetime | None = None
    while True:
        ranged = _within(run_filter, order, older_than - TICK if older_than else None, None)
        page = await _read(client, ranged, order.sort, page_size, 0)
        found.update((run.id, run) for run in page)
        last = order.key(page[-1]) if page else None
        if len(page) < page_size or last is None:
            return newest_first(list(found.values()), time)
        tied = await _all_by_id(client, _within(run_filter, order, last, last), page_size)
        found.update((run.id, run) for run in tied)
        older_than = last
