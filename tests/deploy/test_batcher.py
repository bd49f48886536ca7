"""MicroBatcher: a lone request runs at once; requests queued behind a busy call share the next one."""

import asyncio
import threading

import pytest

from components.deploy.batcher import MicroBatcher


def test_queued_requests_share_one_call_up_to_max_items():
    calls: list[list[int]] = []
    release = threading.Event()

    def run(items):
        calls.append(list(items))
        if len(calls) == 1:
            release.wait(5)
        return [x * 10 for x in items]

    async def scenario():
        batcher = MicroBatcher(run, max_items=4)
        first = asyncio.ensure_future(batcher.submit([1]))
        while not calls:
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(batcher.submit(items)) for items in ([2, 3], [4], [5, 6], [7])]
        await asyncio.sleep(0.05)
        release.set()
        return await first, [await r for r in rest]

    (first, first_info), rest = asyncio.run(scenario())
    assert calls == [[1], [2, 3, 4, 5, 6], [7]]  # queued requests merged until >= 4 items
    assert (first, first_info.batch_items) == ([10], 1)
    assert [(res, info.batch_items) for res, info in rest] == [
        ([20, 30], 5),
        ([40], 5),
        ([50, 60], 5),
        ([70], 1),
    ]
    assert rest[0][1].queue_ms >= 40  # waited behind the first call


def test_a_failing_call_fails_its_requests_only():
    def run(items):
        if 0 in items:
            raise RuntimeError("model failed")
        return items

    async def scenario():
        batcher = MicroBatcher(run, max_items=8)
        with pytest.raises(RuntimeError, match="model failed"):
            await batcher.submit([0])
        return await batcher.submit([1, 2])

    results, info = asyncio.run(scenario())
    assert (results, info.batch_items) == ([1, 2], 2)


def test_max_items_must_be_positive():
    with pytest.raises(ValueError, match="max_items must be >= 1"):
        MicroBatcher(lambda items: items, max_items=0)
