"""The short-lived cache of Prefect answers: one read for concurrent askers, answers that expire."""

from __future__ import annotations

import asyncio

import pytest

from dalgo.deployments.read_cache import ShortCache


def test_concurrent_askers_share_one_read_and_the_answer_is_kept() -> None:
    reads: list[str] = []

    async def main() -> list[int]:
        cache: ShortCache[str, int] = ShortCache(ttl_s=60, max_entries=10)
        gate = asyncio.Event()

        async def read() -> int:
            reads.append("read")
            await gate.wait()
            return 42

        askers = [asyncio.create_task(cache.read("count", read)) for _ in range(5)]
        await asyncio.sleep(0)
        gate.set()
        answers = await asyncio.gather(*askers)
        answers.append(await cache.read("count", read))
        return answers

    assert asyncio.run(main()) == [42] * 6
    assert reads == ["read"]


def test_an_answer_expires_and_a_failed_read_is_not_kept() -> None:
    async def main() -> None:
        cache: ShortCache[str, int] = ShortCache(ttl_s=0.05, max_entries=10)
        cache.put("a", 1)
        assert cache.get("a") == 1
        await asyncio.sleep(0.1)
        assert cache.get("a") is None

        async def failing() -> int:
            raise RuntimeError("Prefect did not answer")

        with pytest.raises(RuntimeError):
            await cache.read("b", failing)
        assert cache.get("b") is None

        async def one() -> int:
            return 1

        assert await cache.read("b", one) == 1

    asyncio.run(main())


def test_the_oldest_answer_goes_first_when_full() -> None:
    cache: ShortCache[str, int] = ShortCache(ttl_s=60, max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
