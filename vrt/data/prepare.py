"""`vrt data prepare`: convert one raw source into canonical Parquet shards + manifest.json.

Input records are cut into chunks of `shard_size`; chunk k becomes `shards/part-0000k.parquet`
plus a done marker `_work/chunk-0000k.json` (its shard, quarantined records and tallies). A
rerun with the same input skips finished chunks. `quarantine.jsonl` and then `manifest.json`
are written last (the publish step); a different input first unpublishes the old manifest.

    from vrt.data.prepare import PrepareConfig, prepare
    manifest = prepare(PrepareConfig("vrt-bench", "data/raw/vrt-bench", "data/vrt-bench"))
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq

from vrt import storage
from vrt.console import console, progress
from vrt.data import fetch
from vrt.data.manifest import MANIFEST, QUARANTINE, Manifest, Shard, read_manifest, write_manifest
from vrt.data.schema import SCHEMA, SCHEMA_VERSION, SOURCES
from vrt.data.sources import converter
from vrt.data.sources.common import BadRecord, RawRecord

CONVERTER_VERSION = 1
WORK = "_work"


@dataclass(frozen=True)
class PrepareConfig:
    source: str
    from_uri: str
    out_uri: str
    revision: str = ""
    shard_size: int = 1000
    cache_uri: str = ""  # default: raw-cache beside out_uri

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")
        if not self.from_uri:
            raise ValueError("from_uri is empty: give a local path, s3://BUCKET/PREFIX or hf://datasets/NAME")
        if not self.out_uri:
            raise ValueError("out_uri is empty: give a local folder or s3://BUCKET/PREFIX")


def _inputs(conv: ModuleType, root: Path) -> tuple[list[Path], Path]:
    if root.is_file():
        return [root], root.parent
    return conv.find_inputs(root), root


def _fingerprint(cfg: PrepareConfig, paths: list[Path], base: Path) -> str:
    files = sorted((p.relative_to(base).as_posix(), fetch.file_sha256(p)) for p in paths)
    doc = [cfg.source, cfg.shard_size, CONVERTER_VERSION, SCHEMA_VERSION, SCHEMA.to_string(), files]
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


def _write_shard(out: str, index: int, rows: list[dict]) -> Shard:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), buf)
    data = buf.getvalue()
    path = f"shards/part-{index:05d}.parquet"
    storage.write_bytes(storage.join(out, path), data)
    return Shard(path=path, rows=len(rows), bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def _convert_chunk(
    conv: ModuleType, out: str, index: int, chunk: list[RawRecord], advance: Callable[[], None]
) -> dict:
    rows, quarantine, tally = [], [], Counter()
    for raw in chunk:
        advance()
        try:
            row = conv.convert(raw)
        except BadRecord as e:
            quarantine.append({"key": e.key or raw.key, "reason": e.reason, "detail": e.detail})
            continue
        rows.append(row)
        tally.update(conv.tally(row))
    shard = asdict(_write_shard(out, index, rows)) if rows else None
    return {
        "index": index,
        "input": len(chunk),
        "shard": shard,
        "quarantine": quarantine,
        "tally": dict(tally),
    }


def _chunks(records: Iterator[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def _run_chunks(cfg: PrepareConfig, conv: ModuleType, paths: list[Path], base: Path) -> list[dict]:
    done_names = set(storage.list_names(storage.join(cfg.out_uri, WORK)))
    results = []
    with progress() as bar:
        task = bar.add_task(f"prepare {cfg.source}", total=conv.count(paths))
        for index, chunk in enumerate(_chunks(conv.iter_raw(paths, base), cfg.shard_size)):
            marker = f"chunk-{index:05d}.json"
            if marker not in done_names:
                result = _convert_chunk(conv, cfg.out_uri, index, chunk, lambda: bar.advance(task))
                storage.write_bytes(storage.join(cfg.out_uri, WORK, marker), json.dumps(result).encode())
            else:
                result = json.loads(storage.read_bytes(storage.join(cfg.out_uri, WORK, marker)))
                bar.advance(task, len(chunk))
            results.append(result)
    return results


def _publish(cfg: PrepareConfig, results: list[dict], fingerprint: str) -> Manifest:
    quarantine = [q for r in results for q in r["quarantine"]]
    storage.write_bytes(
        storage.join(cfg.out_uri, QUARANTINE),
        "".join(json.dumps(q, sort_keys=True) + "\n" for q in quarantine).encode(),
    )
    tally = Counter()
    for r in results:
        tally.update(r["tally"])
    shards = [Shard(**r["shard"]) for r in results if r["shard"]]
    n_in = sum(r["input"] for r in results)
    manifest = Manifest(
        source=cfg.source,
        revision=cfg.revision or f"content-sha256:{fingerprint}",
        counts={"input": n_in, "written": sum(s.rows for s in shards), "quarantined": len(quarantine)},
        quarantine_reasons=dict(sorted(Counter(q["reason"] for q in quarantine).items())),
        shards=shards,
        extra={
            "from": cfg.from_uri,
            "fingerprint": fingerprint,
            "shard_size": cfg.shard_size,
            "tally": dict(sorted(tally.items())),
        },
    )
    write_manifest(cfg.out_uri, manifest)
    return manifest


def prepare(cfg: PrepareConfig) -> Manifest:
    """Fetch, convert, shard and publish; resumes an interrupted run; returns the manifest."""
    conv = converter(cfg.source)
    cache = cfg.cache_uri or fetch.default_cache(cfg.out_uri)
    with tempfile.TemporaryDirectory(prefix="vrt-prepare-") as tmp:
        root = fetch.fetch(cfg.from_uri, cfg.revision, cache, Path(tmp))
        paths, base = _inputs(conv, root)
        fingerprint = _fingerprint(cfg, paths, base)
        if _open_plan(cfg.out_uri, fingerprint):
            console.print(f"{cfg.out_uri} already holds this dataset (same input): nothing to do")
            return read_manifest(cfg.out_uri)
        results = _run_chunks(cfg, conv, paths, base)
    return _publish(cfg, results, fingerprint)
