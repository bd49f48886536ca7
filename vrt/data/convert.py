"""Convert one chunk into one shard and its done marker: the unit of work of `vrt data prepare`.

`run_chunk(job)` is a plain function of a picklable job, so the same code runs in this
process, in a local process pool, or as a Ray task. It writes `shards/part-K.parquet`
(streamed, one row group at a time) and then `_work/chunk-K.json`, the done marker holding
the shard's size, sha256 and row groups, the quarantined records, the tallies and the ids
written. A chunk whose marker exists and whose shard still has the marker's size and sha256
is not converted again; one whose shard is missing or changed is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vrt import storage
from vrt.data.chunks import Chunk, iter_chunk
from vrt.data.sources import converter
from vrt.data.sources.common import BadRecord
from vrt.data.writer import ShardWriter

WORK = "_work"
DUPLICATE_ID = "duplicate_id"


@dataclass(frozen=True)
class ChunkJob:
    source: str
    out_uri: str
    chunk: Chunk
    row_group_size: int
    earlier_ids: frozenset[str] = field(default_factory=frozenset)  # ids written by earlier chunks


def shard_path(index: int) -> str:
    return f"shards/part-{index:05d}.parquet"


def marker_uri(out_uri: str, index: int) -> str:
    return storage.join(out_uri, WORK, f"chunk-{index:05d}.json")


def _sha256(uri: str) -> str:
    if storage.is_s3(uri):
        return hashlib.sha256(storage.read_bytes(uri)).hexdigest()
    h = hashlib.sha256()
    with open(uri, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _size(uri: str) -> int | None:
    if not storage.is_s3(uri):
        return os.path.getsize(uri) if os.path.isfile(uri) else None
    if not storage.exists(uri):
        return None
    bucket, key = storage.split_s3(uri)
    return storage.s3_client().head_object(Bucket=bucket, Key=key)["ContentLength"]


def finished(out_uri: str, index: int) -> dict | None:
    """The done marker of chunk `index` when its shard is still exactly what the marker says."""
    uri = marker_uri(out_uri, index)
    if not storage.exists(uri):
        return None
    result = json.loads(storage.read_bytes(uri))
    shard = result["shard"]
    if shard is None:
        return result
    path = storage.join(out_uri, shard["path"])
    if _size(path) != shard["bytes"] or _sha256(path) != shard["sha256"]:
        return None
    return result


def _publish_file(local: Path, uri: str) -> None:
    if storage.is_s3(uri):
        bucket, key = storage.split_s3(uri)
        storage.s3_client().upload_file(str(local), bucket, key)
    else:
        os.replace(local, uri)


def write_shard(out_uri: str, index: int, rows, row_group_size: int) -> dict | None:
    """Stream `rows` (an iterable of canonical rows) into shard `index`; its description, or None
    when there were no rows (no file is written)."""
    dest = storage.join(out_uri, shard_path(index))
    tmp_dir = Path(dest).parent if not storage.is_s3(out_uri) else Path(tempfile.gettempdir())
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f".part-{index:05d}.", suffix=".tmp")
    os.close(fd)
    try:
        with ShardWriter(Path(tmp), row_group_size) as writer:
            for row in rows:
                writer.add(row)
        info = writer.info
        if info["rows"] == 0:
            storage.delete(dest)  # a shard left by an earlier conversion of this chunk
            return None
        _publish_file(Path(tmp), dest)
        return {"path": shard_path(index), **info}
    finally:
        Path(tmp).unlink(missing_ok=True)


def run_chunk(job: ChunkJob) -> dict:
    """Convert (or keep, when already done and intact) one chunk; returns its done marker."""
    if not job.earlier_ids and (done := finished(job.out_uri, job.chunk.index)) is not None:
        return done
    conv = converter(job.source)
    quarantine: list[dict] = []
    tally: Counter = Counter()
    ids: list[str] = []
    seen = set(job.earlier_ids)

    def rows():
        for raw in iter_chunk(job.chunk):
            try:
                row = conv.convert(raw)
                if row["id"] in seen:
                    raise BadRecord(DUPLICATE_ID, f"id {row['id']} was already written by an earlier record")
            except BadRecord as e:
                entry = {"key": e.key or raw.key, "reason": e.reason, "detail": e.detail}
                if raw.error is not None and raw.error.tail_bytes:  # framing stopped: the rest is unreadable
                    entry |= {"tail_bytes": raw.error.tail_bytes, "tail_records": raw.error.tail_records}
                quarantine.append(entry)
                continue
            seen.add(row["id"])
            ids.append(row["id"])
            tally.update(conv.tally(row))
            yield row

    shard = write_shard(job.out_uri, job.chunk.index, rows(), job.row_group_size)
    result = {
        "index": job.chunk.index,
        "input": job.chunk.size,
        "shard": shard,
        "quarantine": quarantine,
        "tally": dict(tally),
        "ids": ids,
    }
    storage.write_bytes(marker_uri(job.out_uri, job.chunk.index), json.dumps(result).encode())
    return result
