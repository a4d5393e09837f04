"""The run list is newest first across pages: runs made on the session's Prefect server, scheduled
a month ahead (so no worker takes them), read page by page through the web API."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.exceptions import ObjectNotFound
from prefect.states import Scheduled

from dalgo.deployments.client import prefect_client
from dalgo.deployments.operations import CHECK_WAREHOUSE, ensure_operation_deployment
from dalgo.flow_run_pages import all_runs
from dalgo.naming import kind_tag, org_tag
from dalgo.settings import Settings
from tests.support.accounts import OrgWithRoles

MONTH_AHEAD = timedelta(days=30)


class ScheduledRuns:
    """Makes an org's runs due at given times, and deletes them all at the end of the test."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.made: list[uuid.UUID] = []

    def make(self, org: str, times: list[datetime]) -> list[uuid.UUID]:
        """One scheduled run of the org per time; their ids, in the order of `times`."""

        async def make_all() -> list[uuid.UUID]:
            async with prefect_client(self.settings) as prefect:
                deployment_id = await ensure_operation_deployment(prefect, self.settings, CHECK_WAREHOUSE)
                runs = await asyncio.gather(
                    *(
                        prefect.create_flow_run_from_deployment(
                            deployment_id,
                            parameters={"org": org},
                            tags=[org_tag(org), kind_tag("check")],
                            state=Scheduled(scheduled_time=at),
                        )
                        for at in times
                    )
                )
                return [run.id for run in runs]

        ids = asyncio.run(make_all())
        self.made.extend(ids)
        return ids

    def delete_all(self) -> None:
        async def delete() -> None:
            async with prefect_client(self.settings) as prefect:

                async def delete_one(run_id: uuid.UUID) -> None:
                    with contextlib.suppress(ObjectNotFound):
                        await prefect.delete_flow_run(run_id)

                await asyncio.gather(*(delete_one(run_id) for run_id in self.made))

        asyncio.run(delete())


@pytest.fixture()
def scheduled_runs(settings: Settings) -> Iterator[ScheduledRuns]:
    runs = ScheduledRuns(settings)
    yield runs
    runs.delete_all()


def read_pages(client: TestClient, org: OrgWithRoles, limit: int) -> tuple[list[str], set[int]]:
    """Every run id of the org's list, page after page, and the counts the pages gave."""
    ids: list[str] = []
    counts: set[int] = set()
    offset = 0
    while True:
        response = client.get(
            f"/api/v1/orgs/{org.slug}/runs",
            params={"limit": limit, "offset": offset},
            headers=org.headers["guest"],
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        counts.add(body["count"])
        ids += [run["id"] for run in body["data"]]
        if len(body["data"]) < limit:
            return ids, counts
        offset += limit


def test_runs_are_newest_first_across_pages(
    client: TestClient,
    scheduled_runs: ScheduledRuns,
    make_org_with_roles: Callable[[], OrgWithRoles],
) -> None:
    """23 runs an hour apart, made in a shuffled order and read 10 at a time: the pages hold the
    newest ten, the next ten, the oldest three, each with the total."""
    org = make_org_with_roles()
    base = datetime.now(UTC) + MONTH_AHEAD
    times = [base + timedelta(hours=i) for i in (5, 0, 17, 9, 22, 3, 14, 11, 1, 20, 7, 2, 19, 13, 4)]
    times += [base + timedelta(hours=i) for i in (21, 6, 16, 8, 12, 15, 10, 18)]
    ids = scheduled_runs.make(org.slug, times)
    expected = [str(run_id) for _, run_id in sorted(zip(times, ids, strict=True), reverse=True)]

    listed, counts = read_pages(client, org, limit=10)
    assert listed == expected
    assert counts == {23}

    first = client.get(f"/api/v1/orgs/{org.slug}/runs?limit=1", headers=org.headers["guest"]).json()
    assert first["data"][0]["id"] == expected[0] and first["count"] == 23
    beyond = client.get(f"/api/v1/orgs/{org.slug}/runs?offset=40", headers=org.headers["guest"]).json()
    assert beyond == {"data": [], "count": 23}


def test_runs_due_at_the_same_instant_are_paged_by_id(
    client: TestClient,
    scheduled_runs: ScheduledRuns,
    make_org_with_roles: Callable[[], OrgWithRoles],
) -> None:
    """Nine runs due at one instant (the pipelines of one cron), between newer and older runs, read
    four at a time so that page edges fall inside the group: no run shows twice or goes missing,
    and the group is ordered by id."""
    org = make_org_with_roles()
    base = datetime.now(UTC) + MONTH_AHEAD
    newer = [base + timedelta(hours=2, minutes=i) for i in range(7)]
    tied = [base + timedelta(hours=1)] * 9
    older = [base + timedelta(minutes=i) for i in range(4)]
    times = newer + tied + older
    ids = scheduled_runs.make(org.slug, times)
    expected = [str(run_id) for _, run_id in sorted(zip(times, ids, strict=True), reverse=True)]

    for limit in (4, 3, 200):
        listed, counts = read_pages(client, org, limit=limit)
        assert listed == expected, limit
        assert counts == {20}
    tail = client.get(f"/api/v1/orgs/{org.slug}/runs?offset=9&limit=200", headers=org.headers["guest"]).json()
    assert [run["id"] for run in tail["data"]] == expected[9:] and tail["count"] == 20


def test_every_run_is_read_page_after_page(
    settings: Settings, scheduled_runs: ScheduledRuns, make_org_with_roles: Callable[[], OrgWithRoles]
) -> None:
    """26 runs read 8 at a time, with seven due at the instant where a read ends (their group is
    longer than a read) and two more tied further on: reading every run of a filter (as the alert
    and long-run maintenance do) finds each once, newest first."""
    org = make_org_with_roles()
    base = datetime.now(UTC) + MONTH_AHEAD
    times = [base + timedelta(hours=1, seconds=i) for i in range(5)] + [base + timedelta(minutes=40)] * 9
    times += [base + timedelta(minutes=i) for i in range(10)] + [base] * 2
    ids = scheduled_runs.make(org.slug, times)
    expected = [run_id for _, run_id in sorted(zip(times, ids, strict=True), reverse=True)]

    async def read_all() -> list[uuid.UUID]:
        async with prefect_client(settings) as prefect:
            run_filter = FlowRunFilter(tags=FlowRunFilterTags(all_=[org_tag(org.slug)]))
            return [run.id for run in await all_runs(prefect, run_filter, "start", page_size=8)]

    assert asyncio.run(read_all()) == expected


def test_a_kept_count_serves_the_next_pages_until_a_page_contradicts_it(
    client: TestClient,
    scheduled_runs: ScheduledRuns,
    make_org_with_roles: Callable[[], OrgWithRoles],
) -> None:
    """A list longer than a page is counted once and the count serves the next asks for a few
    seconds; runs made meanwhile show on the pages at once, and a page that reaches past the kept
    count has the count read again."""
    org = make_org_with_roles()
    base = datetime.now(UTC) + MONTH_AHEAD
    scheduled_runs.make(org.slug, [base + timedelta(hours=i) for i in range(12)])
    first = client.get(f"/api/v1/orgs/{org.slug}/runs?limit=5", headers=org.headers["guest"]).json()
    assert first["count"] == 12

    newer = scheduled_runs.make(org.slug, [base + timedelta(days=1, hours=i) for i in range(10)])
    again = client.get(f"/api/v1/orgs/{org.slug}/runs?limit=5", headers=org.headers["guest"]).json()
    assert [run["id"] for run in again["data"]] == [str(run_id) for run_id in reversed(newer[5:])]
    assert again["count"] == 12

    further = client.get(
        f"/api/v1/orgs/{org.slug}/runs?limit=5&offset=15", headers=org.headers["guest"]
    ).json()
    assert len(further["data"]) == 5
    assert further["count"] == 22
