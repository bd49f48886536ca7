"""Training data ingest: canonical Parquet shards -> per-worker micro-batches, deterministic per epoch.

Each byte is read about once per epoch whatever the number of workers (ranks) and loader
processes. An epoch's plan, a pure function of (row groups, seed, epoch, batch, workers,
loaders):

1. all row groups of all shards in a shuffled order make one stream of rows;
2. the stream is cut into one contiguous piece per worker, sized so that every optimizer
   step holds `global_batch` rows (the last one fewer), each worker's share differing by at
   most one row;
3. a worker's piece is cut into one contiguous part per loader process; micro-batch `a` of
   the epoch comes from part `a % loaders`, which is what loader process `a % loaders` is
   handed, so each loader process reads only its own row groups;
4. rows are shuffled inside windows of `window` row groups of each part.

So a row group is read by one loader process of one worker (those cut at a boundary by two).
A micro-batch left empty by a short last step carries a zero-weight filler row already read
by that loader (no gradient), so every worker runs the same number of forward passes.
Resuming at step k replays exactly the batches an uninterrupted run would have seen.
A mixture of datasets (components/sft/mixture.py) supplies its own stream in step 1.
Readers fetch single row groups by byte range (vrt.data.rowgroups) and keep a few decoded.

    plan = StepPlan(rows_per_shard=(50, 50), global_batch=8, workers=2, accum=2, seed=0)
    plan.micro_batches(step=3, rank=1)      # [[(shard, row), ...], [...]]  (accum lists)
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from vrt import storage
from vrt.data.manifest import MANIFEST, Manifest, read_manifest
from vrt.data.rowgroups import RowGroups, check_schema, footer_start, read_footer
from vrt.errors import UserError

RowRef = tuple[int, int]  # (shard index, row index inside the shard)


def open_dataset(uri: str) -> Manifest:
    """The dataset's manifest, checked to be non-empty with the canonical schema (reads one footer)."""
    manifest = read_manifest(uri)
    where = storage.join(uri, MANIFEST)
    if manifest.counts["written"] == 0 or not manifest.shards:
        raise UserError(f"{where} lists no rows: the dataset is empty; prepare a dataset with samples")
    first = manifest.shards[0]
    try:
        _, meta = read_footer(storage.join(uri, first.path), first.bytes, footer_start(first))
        check_schema(first.path, meta.schema.to_arrow_schema())
    except UserError as e:
        raise UserError(f"{where}: shard {e}") from e
    return manifest


@dataclass(frozen=True)
class StepPlan:
    """Which rows each worker (and each of its loader processes) sees at each optimizer step."""

    rows_per_shard: tuple[int, ...]
    global_batch: int
    workers: int
    accum: int
    seed: int
    row_groups: tuple[tuple[int, ...], ...] = ()  # rows per row group of each shard; () = one group per shard
    loaders: int = 1  # loader processes per worker
    window: int = 4  # rows are shuffled within this many row groups

    def __post_init__(self) -> None:
        groups = self.row_groups or tuple((n,) for n in self.rows_per_shard)
        if tuple(sum(g) for g in groups) != tuple(self.rows_per_shard):
            raise ValueError("row_groups do not add up to rows_per_shard")
        object.__setattr__(self, "row_groups", groups)

    @classmethod
    def for_dataset(cls, rows: RowSource, global_batch: int, workers: int, accum: int, seed: int,
                    loaders: int = 1) -> StepPlan:
        """The plan over a dataset's row groups, with `loaders` loader processes per worker."""
        shards = range(len(rows.manifest.shards))
        return cls(tuple(s.rows for s in rows.manifest.shards), global_batch, workers, accum, seed,
                   tuple(rows.groups.sizes(i) for i in shards), max(1, loaders))

    @property
    def total_rows(self) -> int:
        return sum(self.rows_per_shard)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.total_rows / self.global_batch)

    def _step_rows(self, within: int) -> list[int]:
        """Rows each worker gets at step `within` of an epoch."""
        last = self.total_rows - (self.steps_per_epoch - 1) * self.global_batch
        n = self.global_batch if within < self.steps_per_epoch - 1 else last
        return [n // self.workers + (r < n % self.workers) for r in range(self.workers)]

    def _micro_sizes(self, rank: int) -> list[int]:
        """Sizes of the worker's micro-batches over one epoch (accum per step, differing by at most one)."""
        sizes = []
        for within in range(self.steps_per_epoch):
            n = self._step_rows(within)[rank]
            sizes += [n // self.accum + (i < n % self.accum) for i in range(self.accum)]
        return sizes

    def epoch_order(self, epoch: int) -> tuple[RowRef, ...]:
        """All rows once: row groups in a shuffled order, each in file order (before the window shuffle)."""
        return _epoch_stream(self.row_groups, self.seed, epoch)

    def _layout(self, epoch: int, rank: int) -> tuple[tuple[RowRef, ...], ...]:
        return _layout(self, epoch, rank)

    def micro_batches(self, step: int, rank: int) -> list[list[RowRef]]:
        """`accum` micro-batches of worker `rank` at `step` (a short last step leaves some empty)."""
        epoch, within = divmod(step, self.steps_per_epoch)
        layout = self._layout(epoch, rank)
        return [list(layout[within * self.accum + i]) for i in range(self.accum)]

    def global_batch_rows(self, step: int) -> list[RowRef]:
        """The rows of optimizer step `step` (0-based) across all workers, worker by worker."""
        return [ref for rank in range(self.workers) for m in self.micro_batches(step, rank) for ref in m]

    def filler(self, step: int, rank: int, micro: int) -> RowRef:
        """A row for an empty micro-batch: the last row of its loader's part (already read there)."""
        epoch, within = divmod(step, self.steps_per_epoch)
        layout = self._layout(epoch, rank)
        index = within * self.accum + micro
        for a in range(index, -1, -self.loaders):
            if layout[a]:
                return layout[a][-1]
        mine = [ref for m in layout for ref in m]
        return mine[-1] if mine else self.epoch_order(epoch)[0]


@functools.lru_cache(maxsize=8)
def _epoch_stream(row_groups: tuple[tuple[int, ...], ...], seed: int, epoch: int) -> tuple[RowRef, ...]:
    groups = [(s, start, n) for s, sizes in enumerate(row_groups)
              for start, n in zip(np.cumsum((0, *sizes[:-1])).tolist(), sizes, strict=True)]
    order: list[RowRef] = []
    for g in np.random.default_rng([seed, epoch]).permutation(len(groups)):
        s, start, n = groups[g]
        order += [(s, start + r) for r in range(n)]
    return tuple(order)


def _cut(seq: tuple, sizes: list[int]) -> list[tuple]:
    bounds = np.cumsum([0, *sizes])
    return [seq[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]


def _window_shuffle(part: tuple[RowRef, ...], span: int, rng: np.random.Generator) -> list[RowRef]:
    out: list[RowRef] = []
    for start in range(0, len(part), span):
        block = part[start : start + span]
        out += [block[k] for k in rng.permutation(len(block))]
    return out


@functools.lru_cache(maxsize=16)
def _layout(plan: StepPlan, epoch: int, rank: int) -> tuple[tuple[RowRef, ...], ...]:
    """The worker's micro-batches of one epoch, in order (steps x accum)."""
    stream = plan.epoch_order(epoch)  # one dataset's, or a mixture's (components/sft/mixture.py)
    quotas = [sum(plan._micro_sizes(r)) for r in range(plan.workers)]
    piece = _cut(stream, quotas)[rank]
    sizes = plan._micro_sizes(rank)
    parts = _cut(piece, [sum(sizes[j :: plan.loaders]) for j in range(plan.loaders)])
    span = plan.window * max(n for g in plan.row_groups for n in g)
    shuffled = [_window_shuffle(part, span, np.random.default_rng([plan.seed, epoch, rank, j]))
                for j, part in enumerate(parts)]
    taken = [0] * plan.loaders
    out = []
    for a, n in enumerate(sizes):
        j = a % plan.loaders
        out.append(tuple(shuffled[j][taken[j] : taken[j] + n]))
        taken[j] += n
    return tuple(out)


class RowSource:
    """Rows of one dataset by (shard, row), read one row group at a time; keeps the last few decoded."""

    def __init__(self, uri: str, manifest: Manifest, keep: int = 6) -> None:
        self.uri, self.manifest, self.keep = uri, manifest, keep
        self.groups = RowGroups(uri, manifest)
        self.cache: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._starts: dict[int, list[int]] = {}

    def _locate(self, shard: int, row: int) -> tuple[int, int]:
        if shard not in self._starts:
            self._starts[shard] = [0, *np.cumsum(self.groups.sizes(shard)).tolist()]
        starts = self._starts[shard]
        group = bisect.bisect_right(starts, row) - 1
        return group, row - starts[group]

    def _table(self, shard: int, group: int):
        key = (shard, group)
        if key in self.cache:
            self.cache.move_to_end(key)
        else:
            self.cache[key] = self.groups.read(shard, group)
            if len(self.cache) > self.keep:
                self.cache.popitem(last=False)
        return self.cache[key]

    def rows(self, refs: list[RowRef]) -> list[dict[str, Any]]:
        out = []
        for shard, row in refs:
            group, at = self._locate(shard, row)
            out.append(self._table(shard, group).slice(at, 1).to_pylist()[0])
        return out


class MicroBatchSource:
    """torch IterableDataset of this worker's micro-batches from `start_step` on; items are (batch, n_real).

    Loader process k of n yields the micro-batches at positions k, k + n, ... (the order a
    DataLoader collects them in), which the plan draws from that process's own row groups."""

    def __init__(self, rows: RowSource, plan: StepPlan, rank: int, start_step: int, end_step: int,
                 collate: Callable[[list[dict]], Any]) -> None:
        self.rows, self.plan, self.rank, self.collate = rows, plan, rank, collate
        self.start_step, self.end_step = start_step, end_step

    def __len__(self) -> int:
        return (self.end_step - self.start_step) * self.plan.accum

    def item(self, position: int) -> tuple[Any, int]:
        step, micro = divmod(self.start_step * self.plan.accum + position, self.plan.accum)
        refs = self.plan.micro_batches(step, self.rank)[micro]
        if refs:
            return self.collate(self.rows.rows(refs)), len(refs)
        return self.collate(self.rows.rows([self.plan.filler(step, self.rank, micro)])), 0

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        k, n = (info.id, info.num_workers) if info else (0, 1)
        for position in range(k, len(self), n):
            yield self.item(position)


def micro_batch_loader(source: MicroBatchSource, loader_workers: int) -> Iterator[tuple[Any, int]]:
    """Iterate `source` in order, collating in `loader_workers` background processes (0 = in this thread)."""
    from torch.utils.data import DataLoader, IterableDataset

    class _Iterable(IterableDataset):
        def __iter__(self):
            return iter(source)

    if loader_workers and max(1, loader_workers) != source.plan.loaders:
        raise ValueError(f"the plan was made for {source.plan.loaders} loader processes, not {loader_workers}")
    kwargs: dict[str, Any] = {"prefetch_factor": 4, "multiprocessing_context": "fork"} if loader_workers else {}
    loader = DataLoader(_Iterable(), batch_size=None, num_workers=loader_workers, **kwargs)
    return iter(loader)
