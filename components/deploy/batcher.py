"""Opportunistic micro-batching: requests that arrive while the model is busy share its next call.

No added latency when idle (a lone request runs at once); under load, everything queued up to
`max_items` goes into one `run` call in a worker thread, so the event loop stays free.

Failures stay with their owner: when a merged call raises, each request of it is re-run on its
own, so only the request whose items make the model fail gets the error. Whatever `run` raises
(StopIteration included, which asyncio futures refuse) reaches the caller as a `ModelFailure`;
no request is ever left waiting.

    batcher = MicroBatcher(run=lambda items: [x * 2 for x in items], max_items=8)
    results, info = await batcher.submit([1, 2])     # ([2, 4], BatchInfo(...))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class ModelFailure(RuntimeError):
    """The model call for a request failed; `cause` is what it raised."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"model call failed ({type(cause).__name__})")
        self.cause = cause


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


def _guarded(
    run: Callable[[list[Any]], list[Any]], items: list[Any]
) -> tuple[list[Any] | None, BaseException | None]:
    """`run(items)` as a value: (results, None) or (None, what it raised); never raises into the executor."""
    try:
        results = run(items)
    except BaseException as e:  # noqa: BLE001 (handed to the caller; the worker must survive anything)
        return None, e
    if not isinstance(results, list) or len(results) != len(items):
        count = len(results) if isinstance(results, list) else type(results).__name__
        return None, RuntimeError(f"run returned {count} results for {len(items)} items")
    return results, None


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
        pending = _Pending(list(items), loop.create_future(), time.perf_counter())
        self._queue.put_nowait(pending)
        return await pending.future

    def _take_batch(self, first: _Pending) -> list[_Pending]:
        batch, count = [first], len(first.items)
        while count < self.max_items and not self._queue.empty():
            nxt = self._queue.get_nowait()
            batch.append(nxt)
            count += len(nxt.items)
        return [p for p in batch if not p.future.done()]  # a client that went away needs no model call

    async def _call(self, items: list[Any]) -> tuple[list[Any] | None, BaseException | None, float, float]:
        start = time.perf_counter()
        results, error = await asyncio.get_running_loop().run_in_executor(None, _guarded, self.run, items)
        return results, error, start, (time.perf_counter() - start) * 1000

    async def _run_batch(self, batch: list[_Pending]) -> None:
        items = [item for p in batch for item in p.items]
        results, error, start, run_ms = await self._call(items)
        if error is not None and len(batch) > 1:
            for p in batch:  # isolate the failing request: each one alone
                await self._run_batch([p])
            return
        offset = 0
        for p in batch:
            mine, offset = slice(offset, offset + len(p.items)), offset + len(p.items)
            if p.future.done():
                continue
            if error is not None:
                p.future.set_exception(ModelFailure(error))
            else:
                info = BatchInfo(round((start - p.enqueued) * 1000, 3), round(run_ms, 3), len(items))
                p.future.set_result((results[mine], info))

    async def _work(self) -> None:
        while True:
            batch = self._take_batch(await self._queue.get())
            try:
                if batch:
                    await self._run_batch(batch)
            except Exception as e:  # noqa: BLE001 (a bug here must not strand the callers)
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(ModelFailure(e))
