"""PixelBudget: requests reserve decoded bytes; over the total at once -> TooLarge; no room in time -> ServerBusy."""

import asyncio

import pytest

from components.deploy.budget import PixelBudget, ServerBusy, TooLarge


def test_waits_for_room_then_refuses_with_retry_after():
    async def scenario():
        budget = PixelBudget(total_bytes=100, wait_s=0.2)
        order = []

        async def hold(n, seconds, name):
            async with budget.reserve(n):
                order.append(f"{name}+")
                await asyncio.sleep(seconds)
                order.append(f"{name}-")

        first = asyncio.ensure_future(hold(60, 0.1, "a"))
        await asyncio.sleep(0.01)
        await hold(50, 0, "b")  # waits for a to finish (60 + 50 > 100)
        await first
        blocker = asyncio.ensure_future(hold(90, 1.0, "c"))
        await asyncio.sleep(0.01)
        with pytest.raises(ServerBusy) as busy:
            await hold(20, 0, "d")
        blocker.cancel()
        await asyncio.gather(blocker, return_exceptions=True)
        return order, busy.value.retry_after_s, budget.used, budget.peak

    order, retry_after, used, peak = asyncio.run(scenario())
    assert order == ["a+", "a-", "b+", "b-", "c+"]
    assert (retry_after, used, peak) == (1, 0, 90)  # the cancelled holder gave its bytes back


def test_a_request_larger_than_the_budget_is_refused_at_once():
    async def scenario():
        async with PixelBudget(total_bytes=100, wait_s=5).reserve(101):
            pass

    with pytest.raises(TooLarge, match="decode to 101 bytes, over the server's budget of 100"):
        asyncio.run(scenario())
