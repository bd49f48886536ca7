"""Training data ingest: canonical Parquet shards -> per-worker micro-batches, deterministic per epoch.

Every epoch visits every row exactly once across all workers: shards are shuffled, rows
are shuffled inside each shard, the stream is cut into global batches, and each global
batch is dealt round-robin into `workers x accum` micro-batch slots (sizes differ by at
most one). A slot left empty by a short last batch carries a zero-weight filler sample
(no gradient), so every worker runs the same number of forward passes. The plan is a pure
function of (manifest, seed, epoch): resuming at step k replays exactly the batches an
uninterrupted run would have seen. Decoding and collation run in DataLoader processes,
off the training thread.

    plan = StepPlan(rows_per_shard=[50, 50], global_batch=8, workers=2, accum=2, seed=0)
    plan.micro_batches(step=3, rank=1)      # [[(shard, row), ...], [...]]  (accum lists)
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from vrt import storage
from vrt.data.manifest import MANIFEST, Manifest, read_manifest
from vrt.data.schema import SCHEMA
from vrt.errors import UserError

RowRef = tuple[int, int]  # (shard index, row index inside the shard)


def open_dataset(uri: str) -> Manifest:
    """The dataset's manifest, checked to be non-empty with the canonical schema (errors name the manifest)."""
    import pyarrow.parquet as pq

    manifest = read_manifest(uri)
    where = storage.join(uri, MANIFEST)
    if manifest.counts["written"] == 0 or not manifest.shards:
        raise UserError(f"{where} lists no rows: the dataset is empty; prepare a dataset with samples")
    first = storage.join(uri, manifest.shards[0].path)
    schema = pq.read_schema(io.BytesIO(storage.read_bytes(first)))
    if not schema.equals(SCHEMA, check_metadata=False):
        missing = sorted(set(SCHEMA.names) - set(schema.names))
        extra = sorted(set(schema.names) - set(SCHEMA.names))
        raise UserError(
            f"{where}: shard {manifest.shards[0].path} does not have the canonical schema v1 "
            f"(missing columns {missing}, unexpected {extra}, or different types): re-run `vrt data prepare`"
        )
    return manifest


@dataclass(frozen=True)
class StepPlan:
    """Which rows each worker sees at each optimizer step."""

    rows_per_shard: tuple[int, ...]
    global_batch: int
    workers: int
    accum: int
    seed: int

    @property
    def total_rows(self) -> int:
        return sum(self.rows_per_shard)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.total_rows / self.global_batch)

    def epoch_order(self, epoch: int) -> tuple[RowRef, ...]:
        """All rows once: shards in a shuffled order, rows shuffled inside each shard."""
        return _epoch_order(self.rows_per_shard, self.seed, epoch)

    def global_batch_rows(self, step: int) -> list[RowRef]:
        """The rows of optimizer step `step` (0-based) across all workers."""
        epoch, within = divmod(step, self.steps_per_epoch)
        order = self.epoch_order(epoch)
        return list(order[within * self.global_batch : (within + 1) * self.global_batch])

    def micro_batches(self, step: int, rank: int) -> list[list[RowRef]]:
        """`accum` micro-batches of worker `rank` at `step` (a short last batch leaves some empty)."""
        chunk = self.global_batch_rows(step)
        slots = self.workers * self.accum
        return [chunk[i * self.workers + rank :: slots] for i in range(self.accum)]


@functools.lru_cache(maxsize=4)
def _epoch_order(rows_per_shard: tuple[int, ...], seed: int, epoch: int) -> tuple[RowRef, ...]:
    rng = np.random.default_rng([seed, epoch])
    order: list[RowRef] = []
    for shard in rng.permutation(len(rows_per_shard)):
        order += [(int(shard), int(r)) for r in rng.permutation(rows_per_shard[shard])]
    return tuple(order)


class ShardRows:
    """Reads rows of one dataset by (shard, row), keeping the last two decoded shards."""

    def __init__(self, uri: str, manifest: Manifest) -> None:
        self.uri, self.manifest = uri, manifest
        self.cache: dict[int, Any] = {}

    def table(self, shard: int):
        from vrt.data.reader import read_shard

        if shard not in self.cache:
            if len(self.cache) >= 2:
                self.cache.pop(next(iter(self.cache)))
            self.cache[shard] = read_shard(self.uri, self.manifest, shard)
        return self.cache[shard]

    def rows(self, refs: list[RowRef]) -> list[dict[str, Any]]:
        return [self.table(s).slice(r, 1).to_pylist()[0] for s, r in refs]


class MicroBatchSource:
    """torch Dataset of this worker's micro-batches from `start_step` on; items are (batch, n_real)."""

    def __init__(self, rows: ShardRows, plan: StepPlan, rank: int, start_step: int, end_step: int,
                 collate: Callable[[list[dict]], Any]) -> None:
        self.rows, self.plan, self.rank, self.collate = rows, plan, rank, collate
        self.start_step, self.end_step = start_step, end_step

    def __len__(self) -> int:
        return (self.end_step - self.start_step) * self.plan.accum

    def __getitem__(self, index: int) -> tuple[Any, int]:
        step, micro = divmod(index, self.plan.accum)
        refs = self.plan.micro_batches(self.start_step + step, self.rank)[micro]
        if refs:
            return self.collate(self.rows.rows(refs)), len(refs)
        filler = self.plan.global_batch_rows(self.start_step + step)[:1]
        return self.collate(self.rows.rows(filler)), 0


def micro_batch_loader(source: MicroBatchSource, loader_workers: int) -> Iterator[tuple[Any, int]]:
    """Iterate `source` in order, collating in `loader_workers` background processes (0 = in this thread)."""
    from torch.utils.data import DataLoader

    kwargs: dict[str, Any] = {"prefetch_factor": 4, "multiprocessing_context": "fork"} if loader_workers else {}
    loader = DataLoader(source, batch_size=None, shuffle=False, num_workers=loader_workers, **kwargs)
    return iter(loader)
