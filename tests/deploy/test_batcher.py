"""MicroBatcher: a lone request runs at once; requests queued behind a busy call share the next one."""

import asyncio
import threading

import pytest

from components.deploy.batcher import MicroBatcher, ModelFailure


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
        with pytest.raises(ModelFailure, match=r"model call failed \(RuntimeError\)") as err:
            await batcher.submit([0])
        assert str(err.value.cause) == "model failed"
        return await batcher.submit([1, 2])

    results, info = asyncio.run(scenario())
    assert (results, info.batch_items) == ([1, 2], 2)


@pytest.mark.parametrize("error", [StopIteration(), KeyboardInterrupt(), GeneratorExit(), ValueError("x")])
def test_no_exception_stops_the_batcher(error):
    """StopIteration is what a `<|image_pad|>` question raised deep in the model: it used to wedge the server."""

    def run(items):
        if "bad" in items:
            raise error
        return [f"ok {x}" for x in items]

    async def scenario():
        batcher = MicroBatcher(run, max_items=8)
        outcomes = []
        for items in (["bad"], ["a"], ["bad", "b"], ["c"]):
            try:
                outcomes.append((await asyncio.wait_for(batcher.submit(items), 5))[0])
            except ModelFailure as e:
                outcomes.append(type(e.cause).__name__)
        return outcomes

    name = type(error).__name__
    assert asyncio.run(scenario()) == [name, ["ok a"], name, ["ok c"]]


def test_one_bad_request_in_a_merged_batch_fails_alone():
    calls: list[list[str]] = []
    release = threading.Event()

    def run(items):
        calls.append(list(items))
        if len(calls) == 1:
            release.wait(5)
        if "bad" in items:
            raise RuntimeError("boom")
        return [x.upper() for x in items]

    async def scenario():
        batcher = MicroBatcher(run, max_items=8)
        first = asyncio.ensure_future(batcher.submit(["first"]))
        while not calls:
            await asyncio.sleep(0.001)
        merged = [asyncio.ensure_future(batcher.submit(items)) for items in (["a"], ["bad"], ["b", "c"])]
        await asyncio.sleep(0.05)
        release.set()
        done = await asyncio.gather(first, *merged, return_exceptions=True)
        return [d if isinstance(d, ModelFailure) else d[0] for d in done]

    first, a, bad, bc = asyncio.run(scenario())
    assert (first, a, bc) == (["FIRST"], ["A"], ["B", "C"])
    assert isinstance(bad, ModelFailure)
    assert calls == [["first"], ["a", "bad", "b", "c"], ["a"], ["bad"], ["b", "c"]]


def test_a_wrong_result_count_is_a_failure_not_a_hang():
    async def scenario():
        batcher = MicroBatcher(lambda items: items[:-1], max_items=8)
        with pytest.raises(ModelFailure) as err:
            await asyncio.wait_for(batcher.submit([1, 2]), 5)
        return str(err.value.cause)

    assert asyncio.run(scenario()) == "run returned 1 results for 2 items"


def test_a_cancelled_request_does_not_break_the_next():
    release = threading.Event()

    def run(items):
        release.wait(5)
        return items

    async def scenario():
        batcher = MicroBatcher(run, max_items=1)
        first = asyncio.ensure_future(batcher.submit([1]))
        gone = asyncio.ensure_future(batcher.submit([2]))
        await asyncio.sleep(0.02)
        gone.cancel()
        release.set()
        return (await first)[0], (await asyncio.wait_for(batcher.submit([3]), 5))[0]

    assert asyncio.run(scenario()) == ([1], [3])


def test_max_items_must_be_positive():
    with pytest.raises(ValueError, match="max_items must be >= 1"):
        MicroBatcher(lambda items: items, max_items=0)
