"""`vrt data prepare`: convert one raw source into canonical Parquet shards + manifest.json.

Input records are cut into chunks of `shard_size` (vrt.data.chunks); chunk k becomes
`shards/part-0000k.parquet` (row groups of `row_group_size` rows) plus a done marker
`_work/chunk-0000k.json` (vrt.data.convert). Chunks are independent: they run in this process,
in a pool of `workers` processes, or as Ray tasks (`executor="ray"`), with byte-identical
shards whichever way. A rerun with the same input keeps finished chunks whose shard still
matches its marker (size and sha256) and redoes the rest. Ids seen in an earlier record are
quarantined (`duplicate_id`). `quarantine.jsonl` and then `manifest.json` are written last,
once (the publish step); a different input first unpublishes the old manifest.

    from vrt.data.prepare import PrepareConfig, prepare
    manifest = prepare(PrepareConfig("vrt-bench", "data/raw/vrt-bench", "data/vrt-bench", workers=4))
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from vrt import storage
from vrt.console import console, progress
from vrt.data import fetch, remote, stream
from vrt.data.chunks import Chunk, plan_chunks, record_chunks, span_chunks
from vrt.data.convert import WORK, ChunkJob, run_chunk
from vrt.data.executors import EXECUTORS, available_cores, run_jobs
from vrt.data.manifest import MANIFEST, QUARANTINE, Manifest, Shard, read_manifest, write_manifest
from vrt.data.schema import SCHEMA, SCHEMA_VERSION, SOURCES
from vrt.data.sources import converter, vgr
from vrt.errors import UserError

CONVERTER_VERSION = 2


@dataclass(frozen=True)
class PrepareConfig:
    source: str
    from_uri: str
    out_uri: str
    revision: str = ""
    shard_size: int = 1000
    cache_uri: str = ""  # default: raw-cache beside out_uri
    row_group_size: int = 32  # rows per Parquet row group (the unit readers fetch)
    workers: int = 0  # conversion processes (or Ray tasks in flight); 0 = the cores available
    executor: str = "local"  # local (this process / a process pool) or ray (Ray tasks)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")
        if self.row_group_size < 1:
            raise ValueError(f"row_group_size must be >= 1, got {self.row_group_size}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = the cores available), got {self.workers}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if not self.from_uri:
            raise ValueError("from_uri is empty: give a local path, s3://BUCKET/PREFIX or hf://datasets/NAME")
        if not self.out_uri:
            raise ValueError("out_uri is empty: give a local folder or s3://BUCKET/PREFIX")


def _inputs(conv: ModuleType, root: Path) -> tuple[list[Path], Path]:
    if root.is_file():
        return [root], root.parent
    return conv.find_inputs(root), root


def _fingerprint(cfg: PrepareConfig, identity: list[tuple[str, str]]) -> str:
    doc = [cfg.source, cfg.shard_size, cfg.row_group_size, CONVERTER_VERSION, SCHEMA_VERSION, SCHEMA.to_string(),
           sorted(identity)]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()


def _open_plan(out: str, fingerprint: str) -> bool:
    """Make `out` ready for this input; True when it already holds the finished dataset."""
    plan_uri = storage.join(out, WORK, "plan.json")
    if storage.exists(plan_uri) and json.loads(storage.read_bytes(plan_uri))["fingerprint"] == fingerprint:
        return storage.exists(storage.join(out, MANIFEST))
    storage.delete(storage.join(out, MANIFEST))  # unpublish first: the rest is about to change
    for name in storage.list_names(out):
        if name.startswith((f"{WORK}/", "shards/")) or name == QUARANTINE:
            storage.delete(storage.join(out, name))
    storage.write_bytes(plan_uri, json.dumps({"fingerprint": fingerprint}).encode())
    return False


def _jobs(cfg: PrepareConfig, plan: Callable[[], Iterator[Chunk]], redo: dict | None = None):
    """Chunk jobs in input order; with `redo` ({index: ids written earlier}), only those chunks."""
    for chunk in plan():
        if redo is None or chunk.index in redo:
            earlier = frozenset(redo[chunk.index]) if redo else frozenset()
            yield ChunkJob(cfg.source, cfg.out_uri, chunk, cfg.row_group_size, earlier)


def _workers(cfg: PrepareConfig, n_records: int | None) -> int:
    workers = cfg.workers or available_cores()
    if cfg.executor == "local" and n_records is not None:
        workers = min(workers, max(1, math.ceil(n_records / cfg.shard_size)))
    return workers


def _duplicates(results: list[dict]) -> dict[int, set[str]]:
    """{chunk index: its ids that an earlier chunk already wrote}, for chunks holding any."""
    seen: set[str] = set()
    redo = {}
    for r in results:
        if dup := seen.intersection(r["ids"]):
            redo[r["index"]] = dup
        seen.update(r["ids"])
    return redo


def _run_chunks(cfg: PrepareConfig, plan: Callable[[], Iterator[Chunk]], n_records: int | None) -> list[dict]:
    if n_records == 0:
        raise UserError(f"no records in {cfg.from_uri}: the input files are empty; check --from")
    workers = _workers(cfg, n_records)
    with progress() as bar:
        task = bar.add_task(f"prepare {cfg.source} ({workers} {cfg.executor} workers)", total=n_records)
        results = run_jobs(_jobs(cfg, plan), workers, cfg.executor, lambda r: bar.advance(task, r["input"]))
    if redo := _duplicates(results):
        again = {r["index"]: r for r in map(run_chunk, _jobs(cfg, plan, redo))}
        results = [again.get(r["index"], r) for r in results]
    if not results:
        raise UserError(f"no records in {cfg.from_uri}: the input files are empty; check --from")
    return results


def _publish(cfg: PrepareConfig, results: list[dict], fingerprint: str) -> Manifest:
    quarantine = [q for r in results for q in r["quarantine"]]
    for name in storage.list_names(storage.join(cfg.out_uri, "shards")):
        if name.startswith(".part-"):  # temporary file of a conversion that was killed
            storage.delete(storage.join(cfg.out_uri, "shards", name))
    storage.write_bytes(
        storage.join(cfg.out_uri, QUARANTINE),
        "".join(json.dumps(q, sort_keys=True) + "\n" for q in quarantine).encode(),
    )
    tally = Counter()
    for r in results:
        tally.update(r["tally"])
    shards = [Shard(**r["shard"]) for r in results if r["shard"]]
    n_in = sum(r["input"] for r in results)
    extra = {"from": cfg.from_uri, "fingerprint": fingerprint, "shard_size": cfg.shard_size}
    if tails := [q for q in quarantine if q.get("tail_bytes")]:
        lost = {
            "files": len(tails),
            "bytes": sum(q["tail_bytes"] for q in tails),
            "records_estimate": sum(q["tail_records"] for q in tails),
        }
        extra["unreadable_tail"] = lost
        console.print(
            f"warning: {lost['files']} input file(s) end in an unreadable tail: {lost['bytes']} bytes, "
            f"about {lost['records_estimate']} record(s) lost (see {QUARANTINE}); download them again",
            markup=False,
        )
    manifest = Manifest(
        source=cfg.source,
        revision=cfg.revision or f"content-sha256:{fingerprint}",
        counts={"input": n_in, "written": sum(s.rows for s in shards), "quarantined": len(quarantine)},
        quarantine_reasons=dict(sorted(Counter(q["reason"] for q in quarantine).items())),
        shards=shards,
        extra=extra | {"tally": dict(sorted(tally.items()))},
    )
    write_manifest(cfg.out_uri, manifest)
    return manifest


def _remote_plan(cfg: PrepareConfig, conv: ModuleType, src: remote.Remote, cache: str, tmp: Path):
    """Chunk plan of a remote source: input files fetched one at a time as the plan reaches them."""
    inputs = stream.RemoteInputs(cfg.source, src, cfg.revision, cache, tmp)
    if cfg.source in stream.TFRECORD_SOURCES:  # workers read spans of the cached objects
        return inputs.identity, lambda: span_chunks(inputs.files(), cfg.shard_size)
    if cfg.source == "vgr":  # annotation files here, each record's image fetched by its worker
        return inputs.identity, lambda: record_chunks(
            vgr.iter_raw(inputs.local_files(), inputs.root, inputs.folder), cfg.shard_size)
    check = getattr(conv, "check_input", None)
    return inputs.identity, lambda: record_chunks(conv.iter_raw(inputs.local_files(check), inputs.root),
                                                  cfg.shard_size)


def _input_plan(cfg: PrepareConfig, conv: ModuleType, cache: str, tmp: Path):
    """(identity of the inputs, record count or None, chunk plan) for this source."""
    if (src := remote.open_remote(cfg.from_uri, cfg.revision)) is not None:
        identity, plan = _remote_plan(cfg, conv, src, cache, tmp)
        return identity, None, plan
    paths, base = _inputs(conv, fetch.local_root(cfg.from_uri))
    identity = [(p.relative_to(base).as_posix(), fetch.file_sha256(p)) for p in paths]
    return identity, conv.count(paths), functools.partial(plan_chunks, conv, paths, base, cfg.shard_size)


def prepare(cfg: PrepareConfig) -> Manifest:
    """Fetch, convert, shard and publish; resumes an interrupted run; returns the manifest."""
    conv = converter(cfg.source)
    cache = cfg.cache_uri or fetch.default_cache(cfg.out_uri)
    with tempfile.TemporaryDirectory(prefix="vrt-prepare-") as tmp:
        identity, n_records, plan = _input_plan(cfg, conv, cache, Path(tmp))
        fingerprint = _fingerprint(cfg, identity)
        if _open_plan(cfg.out_uri, fingerprint):
            console.print(f"{cfg.out_uri} already holds this dataset (same input): nothing to do")
            return read_manifest(cfg.out_uri)
        results = _run_chunks(cfg, plan, n_records)
    return _publish(cfg, results, fingerprint)
