"""Opportunistic micro-batching: requests that arrive while the model is busy share its next call.

No added latency when idle (a lone request runs at once); under load, everything queued up to
`max_items` goes into one `run` call in a worker thread, so the event loop stays free.

    batcher = MicroBatcher(run=lambda items: [x * 2 for x in items], max_items=8)
    results, info = await batcher.submit([1, 2])     # ([2, 4], BatchInfo(...))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BatchInfo:
    """How a request was run: time queued, time of the shared model call, items in that call."""

    queue_ms: float
    run_ms: float
    batch_items: int


@dataclass
class _Pending:
    items: Sequence[Any]
    future: asyncio.Future
    enqueued: float


class MicroBatcher:
    """Serialises calls of `run(items) -> results` (one result per item), merging queued requests."""

    def __init__(self, run: Callable[[list[Any]], list[Any]], max_items: int) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self.run = run
        self.max_items = max_items
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None

    async def submit(self, items: Sequence[Any]) -> tuple[list[Any], BatchInfo]:
        """Run `items` (possibly together with other requests); returns their results in order."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._work())
        pending = _Pending(items, loop.create_future(), time.perf_counter())
        await self._queue.put(pending)
        return await pending.future

    def _take_batch(self, first: _Pending) -> list[_Pending]:
        batch, count = [first], len(first.items)
        while count < self.max_items and not self._queue.empty():
            nxt = self._queue.get_nowait()
            batch.append(nxt)
            count += len(nxt.items)
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = self._take_batch(await self._queue.get())
            items = [item for p in batch for item in p.items]
            start = time.perf_counter()
            try:
                results = await loop.run_in_executor(None, self.run, items)
            except Exception as e:  # noqa: BLE001 (any model failure goes to every request of the batch)
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(e)
                continue
            run_ms = (time.perf_counter() - start) * 1000
            offset = 0
            for p in batch:
                info = BatchInfo(round((start - p.enqueued) * 1000, 3), round(run_ms, 3), len(items))
                if not p.future.done():
                    p.future.set_result((results[offset : offset + len(p.items)], info))
                offset += len(p.items)
