"""Weighted mixtures of canonical datasets: `sft.datasets` / `grpo.datasets`, parsed and planned.

Syntax (YAML), each URI a local directory or s3://bucket/prefix:

    datasets: s3://b/vrt-80k                              # one source, weight 1
    datasets: {s3://b/vrt-80k: 3, s3://b/vgr: 1}
    datasets: [{uri: s3://b/vrt-80k, weight: 3}, {uri: s3://b/vgr, weight: 1}]

**Epoch of a mixture.** Source i (n_i rows, weight w_i) contributes exactly
q_i = round(w_i x n_i) draws to every epoch (half-up, at least 1), so an epoch holds
sum(q_i) draws: a weight is "passes over that source per epoch" (1 = each row once,
2 = twice, 0.5 = half of it, the other half the next epoch). Source i's draws come from
an endless sequence of its passes, each pass the single-dataset order (row groups in a
shuffled order, seed `seed` for the first source and one derived from (seed, i) for the
others); epoch e takes draws [e q_i, (e+1) q_i) of it. The epoch's stream interleaves the
sources by a seeded permutation of the q_i labels, so every contiguous piece of it holds
a contiguous run of each source's draws: the ingest plan (components/sft/ingest.py) cuts
that stream per worker and loader process as for one dataset, so each byte is still read
about once per epoch per source at weight 1, and resuming at step k replays exactly the
batches an uninterrupted run would have seen. A one-source mixture at weight 1 is exactly
today's single-dataset plan. `sft.epochs` / `grpo.epochs` count these epochs.

Training logs `samples/<source>` per step (step_source_counts), each source's loss terms
(`loss_ce/<source>`, ..., components/sft/metrics.py SourceMetrics) and every source's manifest
as an MLflow input with its weight.

Rows are addressed (shard, row) over the sources' shards laid end to end: source i's
shards are numbered from `offsets[i]`.

    mixture = parse_mixture({"a": 3, "b": 1}, "sft.datasets")        # (("a", 3.0), ("b", 1.0))
    rows = MixtureRows.open(mixture, "sft.datasets")
    plan = MixturePlan.for_mixture(rows, global_batch=8, workers=2, accum=2, seed=0)
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from components.sft.ingest import RowRef, RowSource, StepPlan, _epoch_stream, open_dataset
from vrt.errors import UserError

Mixture = tuple[tuple[str, float], ...]  # (uri, weight) per source, in the order given


def _weight(value: Any, where: str) -> float:
    fix = f"{where}: set a positive finite number of passes per epoch (e.g. 1.0)"
    if isinstance(value, bool):
        raise UserError(f"{where}={value!r} is not a weight: {fix}")
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}={value!r} is not a number: {fix}") from None
    if not math.isfinite(weight) or weight <= 0:
        raise UserError(f"{where}={value!r} must be positive and finite: {fix}")
    return weight


def _uri(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{key}: {value!r} is not a dataset URI: give a local directory or s3://bucket/prefix")
    scheme, sep, _ = value.partition("://")
    if sep and scheme != "s3":
        raise UserError(f"{key}: {value!r} has the unknown URI form {scheme}://: give a local directory or "
                        "s3://bucket/prefix of a prepared dataset (`vrt data prepare --out ...`)")
    return value


def _entry(item: Any, key: str, at: int) -> tuple[str, float]:
    if isinstance(item, str):
        return _uri(item, key), 1.0
    if isinstance(item, Mapping) and set(item) <= {"uri", "weight"} and "uri" in item:
        uri = _uri(item["uri"], key)
        return uri, _weight(item.get("weight", 1.0), f"{key}[{at}].weight")
    if isinstance(item, (list, tuple)) and len(item) == 2:
        uri = _uri(item[0], key)
        return uri, _weight(item[1], f"{key}[{at}].weight")
    raise UserError(f"{key}[{at}]={item!r}: write each entry as {{uri: URI, weight: W}} (or a bare URI, weight 1)")


def parse_mixture(value: Any, key: str) -> Mixture:
    """`value` (a URI, a {uri: weight} mapping or a list of {uri, weight} entries) as (uri, weight) pairs."""
    if isinstance(value, str):
        entries = [(_uri(value, key), 1.0)]
    elif isinstance(value, Mapping):
        entries = [(_uri(uri, key), _weight(w, f"{key}.{uri}")) for uri, w in value.items()]
    elif isinstance(value, (list, tuple)):
        entries = [_entry(item, key, at) for at, item in enumerate(value)]
    else:
        raise UserError(f"{key}={value!r}: give a URI, a mapping {{URI: weight}} or a list of {{uri, weight}}")
    if not entries:
        raise UserError(f"{key} is empty: name at least one dataset, e.g. {key}={{s3://bucket/vrt-80k: 1.0}}")
    twice = [uri for uri, n in Counter(uri for uri, _ in entries).items() if n > 1]
    if twice:
        raise UserError(f"{key} lists {twice[0]} more than once: give each source once with its total weight")
    return tuple(entries)


def draws_per_epoch(rows: tuple[int, ...], weights: tuple[float, ...]) -> tuple[int, ...]:
    """q_i = round(w_i x n_i) (half up), at least 1: each source's draws in one mixture epoch."""
    return tuple(max(1, math.floor(w * n + 0.5)) for n, w in zip(rows, weights, strict=True))


def source_seed(seed: int, source: int) -> int:
    """The seed of source `source`'s passes: `seed` itself for the first one (the single-dataset plan)."""
    return seed if source == 0 else int(np.random.SeedSequence([seed, source]).generate_state(1)[0])


class MixtureRows:
    """Rows of several datasets by (shard, row) over their shards laid end to end."""

    def __init__(self, mixture: Mixture, sources: list[RowSource]) -> None:
        self.mixture, self.sources = mixture, sources
        counts = [len(s.manifest.shards) for s in sources]
        self.offsets = tuple(int(x) for x in np.cumsum([0, *counts[:-1]]))

    @classmethod
    def open(cls, mixture: Mixture, key: str) -> MixtureRows:
        """Open every source (each checked non-empty with the canonical schema); errors name `key`."""
        sources = []
        for uri, _ in mixture:
            try:
                sources.append(RowSource(uri, open_dataset(uri)))
            except UserError as e:
                raise UserError(f"{key}: source {uri}: {e}") from e
        return cls(mixture, sources)

    @property
    def digest(self) -> str:
        """The manifest sha256 of a lone source at weight 1, else the sha256 of every (sha256, weight)."""
        pairs = [[src.manifest.sha256, w] for src, (_, w) in zip(self.sources, self.mixture, strict=True)]
        if len(pairs) == 1 and pairs[0][1] == 1.0:
            return pairs[0][0]
        return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()

    @property
    def label(self) -> str:
        """The URI of a lone source at weight 1, else `uri*weight + ...` (model lineage)."""
        if len(self.mixture) == 1 and self.mixture[0][1] == 1.0:
            return self.mixture[0][0]
        return " + ".join(f"{uri}*{w:g}" for uri, w in self.mixture)

    @property
    def names(self) -> list[str]:
        """A metric name per source: its manifest's `source`, with `.i` added where two share one."""
        names = [src.manifest.source for src in self.sources]
        return [n if names.count(n) == 1 else f"{n}.{i}" for i, n in enumerate(names)]

    def source_of(self, shard: int) -> int:
        return int(np.searchsorted(self.offsets, shard, side="right")) - 1

    def rows(self, refs: list[RowRef]) -> list[dict[str, Any]]:
        out = []
        for shard, row in refs:
            i = self.source_of(shard)
            out += self.sources[i].rows([(shard - self.offsets[i], row)])
        return out


@dataclass(frozen=True)
class MixturePlan(StepPlan):
    """The ingest plan over a mixture's stream (see the module docstring); one source, weight 1 = StepPlan."""

    sources: tuple[int, ...] = ()  # shards per source, in order
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if sum(self.sources) != len(self.rows_per_shard) or len(self.weights) != len(self.sources):
            raise ValueError("sources must count every shard once and weights name one weight per source")

    @classmethod
    def for_mixture(cls, rows: MixtureRows, global_batch: int, workers: int, accum: int, seed: int,
                    loaders: int = 1) -> MixturePlan:
        shards = [s for src in rows.sources for s in src.manifest.shards]
        groups = tuple(src.groups.sizes(i) for src in rows.sources for i in range(len(src.manifest.shards)))
        return cls(tuple(s.rows for s in shards), global_batch, workers, accum, seed, groups, max(1, loaders),
                   sources=tuple(len(src.manifest.shards) for src in rows.sources),
                   weights=tuple(w for _, w in rows.mixture))

    @property
    def source_rows(self) -> tuple[int, ...]:
        bounds = np.cumsum([0, *self.sources])
        return tuple(sum(self.rows_per_shard[bounds[i] : bounds[i + 1]]) for i in range(len(self.sources)))

    @property
    def draws(self) -> tuple[int, ...]:
        return draws_per_epoch(self.source_rows, self.weights)

    @property
    def total_rows(self) -> int:
        return sum(self.draws)

    def epoch_order(self, epoch: int) -> tuple[RowRef, ...]:
        return _mixture_stream(self, epoch)

    def source_counts(self, refs: list[RowRef]) -> list[int]:
        """Rows of each source among `refs`."""
        bounds = np.cumsum([0, *self.sources])
        found = np.searchsorted(bounds, [shard for shard, _ in refs], side="right") - 1
        return np.bincount(found, minlength=len(self.sources)).astype(int).tolist()


def step_source_counts(plan: MixturePlan, step: int, rank: int) -> list[float]:
    """Rows of each source in optimizer step `step`: this worker's, summed over the workers when distributed
    (a collective: every rank calls it)."""
    import torch

    from components.sft.metrics import all_reduce_sum

    mine = [ref for micro in plan.micro_batches(step, rank) for ref in micro]
    return all_reduce_sum(torch.tensor(plan.source_counts(mine), dtype=torch.float64)).tolist()


def _source_draws(plan: MixturePlan, source: int, epoch: int) -> list[RowRef]:
    """Source `source`'s draws of mixture epoch `epoch` (global shard numbers), from its endless passes."""
    first = sum(plan.sources[:source])
    groups = plan.row_groups[first : first + plan.sources[source]]
    n, q = plan.source_rows[source], plan.draws[source]
    start, stop = epoch * q, (epoch + 1) * q
    out: list[RowRef] = []
    for p in range(start // n, (stop - 1) // n + 1):
        stream = _epoch_stream(groups, source_seed(plan.seed, source), p)
        out += [(first + s, r) for s, r in stream[max(start - p * n, 0) : min(stop - p * n, n)]]
    return out


@functools.lru_cache(maxsize=8)
def _mixture_stream(plan: MixturePlan, epoch: int) -> tuple[RowRef, ...]:
    runs = [_source_draws(plan, i, epoch) for i in range(len(plan.sources))]
    if len(runs) == 1:
        return tuple(runs[0])
    labels = np.repeat(np.arange(len(runs)), plan.draws)
    labels = labels[np.random.default_rng([plan.seed, epoch, len(runs)]).permutation(len(labels))]
    taken = [0] * len(runs)
    out = []
    for i in labels.tolist():
        out.append(runs[i][taken[i]])
        taken[i] += 1
    return tuple(out)
