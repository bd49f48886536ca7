"""A byte budget for decoded pixels in flight: requests queue for room, then get 503 (Retry-After).

Every request reserves the memory its images take once decoded (`Query.decoded_bytes`) before
any pixel is decoded, and gives it back when its response is built. A request that could never
fit is refused at once (413); one that does not fit now waits up to `wait_s`, then is refused
with 503 so the client retries later.

    budget = PixelBudget(total_bytes=768 << 20, wait_s=5.0)
    async with budget.reserve(sum(q.decoded_bytes() for q in queries)):
        ...decode, run, build the response...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ServerBusy(RuntimeError):
    """No room in the budget within the wait: HTTP 503 with Retry-After."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooLarge(ValueError):
    """The request alone exceeds the whole budget: HTTP 413."""


class PixelBudget:
    """At most `total_bytes` of decoded pixels reserved at once."""

    def __init__(self, total_bytes: int, wait_s: float) -> None:
        if total_bytes < 1 or wait_s < 0:
            raise ValueError(f"need total_bytes >= 1 and wait_s >= 0, got {total_bytes}, {wait_s}")
        self.total_bytes = total_bytes
        self.wait_s = wait_s
        self.used = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def reserve(self, n: int) -> AsyncIterator[None]:
        if n > self.total_bytes:
            raise TooLarge(
                f"the images of this request decode to {n} bytes, over the server's budget of "
                f"{self.total_bytes}; send fewer or smaller images"
            )
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.used + n <= self.total_bytes), self.wait_s
                )
            except TimeoutError:
                raise ServerBusy(
                    "the server is busy decoding other images; retry after a moment",
                    retry_after_s=max(1, round(self.wait_s)),
                ) from None
            self.used += n
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            async with self._changed:
                self.used -= n
                self._changed.notify_all()
